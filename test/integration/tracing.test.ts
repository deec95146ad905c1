import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TaskClient } from '../../api/task-client';
import { catalog } from '../../examples/demo/catalog';
import { activeTracing, installTracing } from '../../temporal/tracing';
import { uniqueId, useStack, waitFor } from '../helpers/stack';

/**
 * "A trace of one task shows its spans": with TIDEWAY_OTLP_ENDPOINT set, the submit (client), the
 * workflow (control worker) and the attempt (pool) export spans of one trace over OTLP/HTTP to a
 * tiny receiver here, and the handler's downstream call carries the task's tag and that trace.
 */
jest.setTimeout(120_000);

interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
}

/** An OTLP/HTTP receiver: POST /v1/traces with the JSON encoding (the exporter's default). */
function otlpReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[] }> {
  const spans: ReceivedSpan[] = [];
  type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean };
  type Attr = { key: string; value: AnyValue };
  const attrs = (list: Attr[] | undefined) =>
    Object.fromEntries((list ?? []).map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue]));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
        res.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: {
          resource?: { attributes?: Attr[] };
          scopeSpans?: { spans?: { name: string; traceId: string; spanId: string; parentSpanId?: string; attributes?: Attr[] }[] }[];
        }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const service = String(attrs(rs.resource?.attributes)['service.name']);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service,
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              attributes: attrs(s.attributes),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans })),
  );
}

/** A downstream service that records the headers of every request. */
function downstream(): Promise<{ server: Server; url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen })),
  );
}

// The receiver must listen before the stack's workers start with its URL.
let otlp: Awaited<ReturnType<typeof otlpReceiver>>;
const env: Record<string, string> = {};
beforeAll(async () => {
  otlp = await otlpReceiver();
  env.TIDEWAY_OTLP_ENDPOINT = otlp.url;
});
const stack = useStack({ pools: [['demo', 'normal']], env });
afterAll(async () => {
  await activeTracing()?.shutdown();
  otlp.server.close();
});

test('a trace of one task shows its spans: submit, workflow and attempt share one trace, and so does the downstream call', async () => {
  const down = await downstream();
  try {
    // This test process is the producer: tracing on before its client connects.
    const tracing = await installTracing(otlp.url, 'tideway-test-producer', { exportDelayMs: 200 });
    expect(tracing).toBeDefined();
    const client = await TaskClient.connect({ catalog, address: stack.address, admission: { kind: 'off' } });
    const taskId = uniqueId('traced');
    try {
      await client.submit('demo.http', { url: `${down.url}/orders` }, { taskId, tag: 'canary-7' });
      expect(await client.result(taskId, 'demo.http')).toEqual({ status: 200 });
    } finally {
      await client.close(); // flushes the producer's spans
    }

    const ofTask = await waitFor(
      () => {
        const run = otlp.spans.find((s) => s.name === 'RunActivity:executeTask' && s.attributes.temporalWorkflowId === taskId);
        if (!run) return undefined;
        const trace = otlp.spans.filter((s) => s.traceId === run.traceId);
        const names = new Set(trace.map((s) => s.name));
        return ['StartWorkflow:runTask', 'RunWorkflow:runTask', 'StartActivity:executeTask'].every((n) => names.has(n)) ? trace : undefined;
      },
      30_000,
      'the spans of the task at the OTLP receiver',
    );
    const by = (name: string) => ofTask.find((s) => s.name === name)!;
    const submit = by('StartWorkflow:runTask');
    const workflow = by('RunWorkflow:runTask');
    const schedule = by('StartActivity:executeTask');
    const attempt = by('RunActivity:executeTask');
    // Each from the process that did the work, each the child of the step before.
    expect([submit.service, workflow.service, schedule.service, attempt.service]).toEqual([
      'tideway-test-producer',
      'tideway-control',
      'tideway-control',
      'tideway-pool',
    ]);
    expect(submit.attributes.temporalWorkflowId).toBe(taskId);
    expect(workflow.parentSpanId).toBe(submit.spanId);
    expect(schedule.parentSpanId).toBe(workflow.spanId);
    expect(attempt.parentSpanId).toBe(schedule.spanId);

    // The handler forwarded the task's tag, and the attempt's span as W3C trace context.
    expect(down.seen).toHaveLength(1);
    const h = down.seen[0]!;
    expect(h['x-tideway-task']).toBe(taskId);
    expect(h['x-tideway-tag']).toBe('canary-7');
    expect(h.traceparent).toBe(`00-${attempt.traceId}-${attempt.spanId}-01`);
  } finally {
    down.server.close();
  }
});

test('without a caller tag the downstream call still names the task', async () => {
  const down = await downstream();
  try {
    const taskId = uniqueId('untagged');
    await stack.client.submit('demo.http', { url: down.url }, { taskId });
    await stack.client.result(taskId);
    expect(down.seen[0]?.['x-tideway-task']).toBe(taskId);
    expect(down.seen[0]?.['x-tideway-tag']).toBeUndefined();
  } finally {
    down.server.close();
  }
});
