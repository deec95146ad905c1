import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { parseAdmission } from '../../config/admission';
import { catalog } from '../../examples/demo/catalog';
import { listen, type Caller } from './api-helpers';
import { DEMO_CONFIG, uniqueId, useStack, waitFor } from '../helpers/stack';

/**
 * The /metrics endpoints of a running stack, scraped for real after some tasks: the HTTP API (with
 * its admission gate), a pool process (Tideway's and, with TIDEWAY_SDK_METRICS, the SDK's own) and
 * the scaler process. Each new series is there with a value that fits what happened.
 */
jest.setTimeout(120_000);

const stack = useStack({ pools: [], env: { TIDEWAY_METRICS_HOST: '127.0.0.1' } });

/** A free loopback port (the SDK's exporter and the scaler want a fixed one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Value of the first series of `name` whose labels include `labels`, from Prometheus text. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  return res.text();
}

test('API, pool, SDK and scaler /metrics show the new series with sane values after some tasks', async () => {
  const sdkPort = await freePort();
  const pool = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' }, { TIDEWAY_SDK_METRICS: `127.0.0.1:${sdkPort}` });
  const poolUrl = `http://127.0.0.1:${(await pool.readyInfo).metricsPort}/metrics`;

  // The API with a fixed low-lane budget of one start, so a second low-lane submit is refused (429 lane_admission).
  const client = new TaskClient({
    client: stack.temporal,
    catalog,
    admission: parseAdmission('low=0.01/s,burst=1'),
    admissionMaxWaitMs: 0,
  });
  const key = 'metrics-key-0001';
  let api: ApiServer | undefined;
  const scalerPort = await freePort();
  const scaler = spawn(
    process.execPath,
    [join(__dirname, '..', '..', 'dist', 'cli', 'index.js'), 'scaler', '--actuator', 'dry-run', '--interval', '1s'],
    {
      env: {
        // The scaler child needs PATH and the rest of this environment.
        ...process.env,
        TIDEWAY_CONFIG: DEMO_CONFIG,
        TEMPORAL_ADDRESS: stack.address,
        TIDEWAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'tideway-metrics-')),
        TIDEWAY_SCALER_METRICS_PORT: String(scalerPort),
        TIDEWAY_LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    },
  );
  const scalerExit = new Promise<number | null>((resolve) => scaler.once('exit', (code) => resolve(code)));
  try {
    api = await buildApiServer({ client, keys: ApiKeyStore.parse(`acme=${key}`), backpressure: false });
    const { url, call } = await listen(api);
    const submit = (c: Caller, json: unknown) => c('POST', '/v1/tasks', { key, json });

    const ids = [uniqueId('m'), uniqueId('m')];
    for (const id of ids) expect((await submit(call, { type: 'demo.echo', input: { id }, taskId: id })).status).toBe(201);
    expect((await submit(call, { type: 'demo.echo', input: 1, taskId: ids[0] })).status).toBe(200); // duplicate
    expect((await submit(call, { type: 'demo.sleep', input: { ms: 'x' } })).status).toBe(400);
    expect((await call('GET', '/v1/tasks', {})).status).toBe(401);
    const low = uniqueId('low');
    expect((await submit(call, { type: 'demo.echo', input: 1, lane: 'low', taskId: low })).status).toBe(201);
    const refused = await submit(call, { type: 'demo.echo', input: 2, lane: 'low' });
    expect(refused.status).toBe(429);
    for (const id of ids) await stack.client.result(id);
    await stack.client.cancel(low); // no low-lane pool here

    const apiText = await scrape(`${url}/metrics`, { authorization: `Bearer ${key}` });
    expect(metric(apiText, 'tideway_api_submits_total', { tenant: 'acme', outcome: 'started' })).toBe(3);
    expect(metric(apiText, 'tideway_api_submits_total', { tenant: 'acme', outcome: 'duplicate' })).toBe(1);
    expect(metric(apiText, 'tideway_api_errors_total', { tenant: 'acme', status: '400', type: 'ValidationError' })).toBe(1);
    expect(metric(apiText, 'tideway_api_errors_total', { tenant: 'none', status: '401' })).toBe(1);
    expect(metric(apiText, 'tideway_api_errors_total', { tenant: 'acme', status: '429', type: 'TooManyRequests' })).toBe(1);
    expect(metric(apiText, 'tideway_api_throttled_total', { tenant: 'acme', reason: 'lane_admission' })).toBe(1);
    expect(metric(apiText, 'tideway_admission_rate', { lane: 'low' })).toBeCloseTo(0.01);
    expect(metric(apiText, 'tideway_admission_waiting', { lane: 'low' })).toBe(0);

    const poolText = await scrape(poolUrl);
    const waits = metric(poolText, 'tideway_pool_queue_wait_seconds_count', { task_type: 'demo.echo', lane: 'normal' });
    expect(waits).toBeGreaterThanOrEqual(2);
    const waitSum = metric(poolText, 'tideway_pool_queue_wait_seconds_sum', { task_type: 'demo.echo', lane: 'normal' })!;
    expect(waitSum).toBeGreaterThanOrEqual(0);
    expect(waitSum / waits!).toBeLessThan(30); // a queue wait, not a clock error
    expect(metric(poolText, 'tideway_pool_task_duration_seconds_count', { task_type: 'demo.echo', outcome: 'ok', lane: 'normal' })).toBe(
      waits,
    );

    // The SDK's own series from the same process (names and units are the SDK's).
    const sdkText = await waitFor(async () => {
      const t = await scrape(`http://127.0.0.1:${sdkPort}/metrics`);
      return /^temporal_activity_execution_latency\w*_count\{[^}]*task_queue="tideway\.demo\.normal"/m.test(t) ? t : undefined;
    }, 20_000);
    expect(sdkText).toMatch(/^temporal_worker_task_slots_used\{/m);

    // The scaler process: one decision per round and pool, the observed backlog and its replicas.
    const scalerText = await waitFor(
      async () => {
        const t = await scrape(`http://127.0.0.1:${scalerPort}/metrics`).catch(() => undefined);
        return t && (metric(t, 'tideway_scaler_decisions_total', { pool: 'demo.normal' }) ?? 0) > 0 ? t : undefined;
      },
      30_000,
      'a scaler decision',
    );
    expect(metric(scalerText, 'tideway_scaler_backlog', { pool: 'demo.normal' })).toBeGreaterThanOrEqual(0);
    expect(metric(scalerText, 'tideway_scaler_desired_replicas', { pool: 'demo.normal' })).toBeGreaterThanOrEqual(0);
    expect(metric(scalerText, 'tideway_scaler_replicas', { pool: 'demo.normal' })).toBeGreaterThanOrEqual(0);
    expect(metric(scalerText, 'tideway_scaler_forecast_tasks', { pool: 'demo.normal' })).toBeGreaterThanOrEqual(0);
  } finally {
    scaler.kill('SIGTERM');
    await scalerExit;
    await api?.close();
    await client.close();
    await pool.stop();
  }
});
