import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer } from '../../api/http/server';
import { CONTROL_TASK_QUEUE, RUN_TASK_WORKFLOW } from '../../config/names';
import { expectNoLeakedWorkers, readLedger, uniqueId, waitFor } from '../helpers/stack';
import { listen } from '../integration/api-helpers';
import { checkLedger, faultStack } from './helpers';

/** Faults in what a task talks to: a hung handler, a downstream that refuses, a crowd of duplicate submits. */

jest.setTimeout(240_000);
afterAll(() => expectNoLeakedWorkers());

test('a hung handler: no heartbeat, the attempt times out and is retried on another worker', async () => {
  const stack = await faultStack({ pools: [] });
  try {
    const first = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    const id = uniqueId('hung');
    // Attempt 1 hangs without heartbeating (demo.sleep's heartbeat timeout is 3 s).
    await stack.client.submit('demo.sleep', { ms: 500, hangAttempts: 1 }, { taskId: id });
    await waitFor(() => readLedger(stack.ledger).some((r) => r.taskId === id), 30_000, 'attempt 1 to start');
    const second = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    await checkLedger({ ...stack, accepted: [id], timeoutMs: 60_000 });
    const runs = stack.ledgerFor(id);
    expect(runs.map((r) => r.attempt)).toEqual([1, 2]);
    expect(runs[0]!.pid).toBe(first.pid);
    // Attempt 2 ran on a free slot: either process may have taken it, but it completed.
    expect([first.pid, second.pid]).toContain(runs[1]!.pid);
    expect(await stack.client.get(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  } finally {
    await stack.stop();
  }
});

test('a downstream answering 429/503 for a minute: tasks back off, no retry storm, all succeed once it recovers', async () => {
  const OUTAGE_MS = 60_000;
  let outageUntil = 0;
  const hits: { at: number; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    const now = Date.now();
    const refused = now < outageUntil;
    const status = refused ? (hits.length % 2 === 0 ? 429 : 503) : 200;
    hits.push({ at: now, status });
    if (status === 429) res.setHeader('retry-after', '2');
    res.statusCode = status;
    res.end(refused ? 'busy' : 'ok');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  const stack = await faultStack({ pools: [['demo', 'normal']] });
  try {
    const TASKS = 40;
    outageUntil = Date.now() + OUTAGE_MS;
    const start = Date.now();
    const ids = Array.from({ length: TASKS }, (_, i) => uniqueId(`down${i}`));
    for (const id of ids) await stack.client.submit('demo.http', { url }, { taskId: id });
    await checkLedger({ ...stack, accepted: ids, timeoutMs: 180_000 });
    const during = hits.filter((h) => h.at < outageUntil);
    const perSecond = during.length / ((outageUntil - start) / 1000);
    process.stdout.write(
      `downstream outage ${OUTAGE_MS} ms: ${during.length} refused requests (${perSecond.toFixed(1)}/s) for ${TASKS} tasks, ${hits.length - during.length} after it, recovered in ${((Date.now() - outageUntil) / 1000).toFixed(1)} s\n`,
    );
    // No storm: a task's throttled retries back off (0.5 s doubling to 4 s, with a floor of about 1 s
    // on the server; Retry-After 2 s honoured). Measured in a fresh-clone CI run: 850 refused requests
    // for 40 tasks in the minute (21 each); 30 each leaves room for timing. A retry loop without
    // backoff would send tens of thousands.
    expect(during.length).toBeLessThanOrEqual(TASKS * 30);
    // And after it, each task needed one successful request (a few extra if a run raced the edge).
    expect(hits.length - during.length).toBeLessThanOrEqual(TASKS + 5);
  } finally {
    await stack.stop();
    await new Promise((r) => server.close(r));
  }
});

test('100 concurrent submits of one ID through the API, and 100 through plain Temporal clients: one task each', async () => {
  const stack = await faultStack({ pools: [['demo', 'normal']] });
  const KEY = 'faults-dup-key-0001';
  const api = await buildApiServer({ client: stack.client, keys: ApiKeyStore.parse(`acme=${KEY}`), backpressure: false });
  const { url } = await listen(api);
  const connections = await Promise.all(Array.from({ length: 10 }, () => Connection.connect({ address: stack.address })));
  try {
    const viaApi = uniqueId('dup-api');
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        fetch(`${url}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'demo.sleep', input: { ms: 1_000 }, taskId: viaApi }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { taskId: string; duplicate?: boolean } })),
      ),
    );
    const codes = answers.map((a) => a.status);
    expect(codes.every((c) => c === 200 || c === 201 || c === 202)).toBe(true);
    expect(answers.filter((a) => !a.body.duplicate)).toHaveLength(1);

    const viaPlain = uniqueId('dup-plain');
    const starts = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        new Client({ connection: connections[i % 10]! }).workflow.start(RUN_TASK_WORKFLOW, {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: viaPlain,
          args: [{ type: 'demo.sleep', input: { ms: 1_000 } }],
        }),
      ),
    );
    const started = starts.filter((s) => s.status === 'fulfilled');
    const refused = starts.filter((s) => s.status === 'rejected');
    // One start wins; the rest are refused as already started (or, if late, become `duplicate` runs).
    expect(started.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    await checkLedger({ ...stack, accepted: [viaApi, viaPlain] });
    expect(stack.ledgerFor(viaApi)).toHaveLength(1);
    expect(stack.ledgerFor(viaPlain)).toHaveLength(1);
  } finally {
    await api.close();
    await Promise.all(connections.map((c) => c.close()));
    await stack.stop();
  }
});
