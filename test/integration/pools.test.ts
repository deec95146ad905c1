import { uniqueId, waitFor, useStack } from '../helpers/stack';
import type { WorkerProcess } from '../../workers/supervisor';

/**
 * Pool processes for real: /healthz and /metrics on their own port, SIGTERM drain (in-flight work
 * finishes within the grace; work cut off by the grace is retried on another process, not lost).
 * Uses the demo group's low lane only, so other files' pools (normal/high) do not take its tasks.
 */
jest.setTimeout(120_000);

const stack = useStack({ pools: [], env: { TIDEWAY_METRICS_HOST: '127.0.0.1' } });

async function spawnLowPool(graceMs: number): Promise<{ w: WorkerProcess; base: string }> {
  const w = await stack.spawn({ role: 'pool', group: 'demo', lane: 'low' }, { TIDEWAY_SHUTDOWN_GRACE_MS: String(graceMs) });
  const info = await w.readyInfo;
  expect(info.metricsPort).toEqual(expect.any(Number));
  return { w, base: `http://127.0.0.1:${info.metricsPort}` };
}

async function health(base: string): Promise<{ code: number; body: { status: string; inFlight: number } }> {
  const res = await fetch(`${base}/healthz`);
  return { code: res.status, body: (await res.json()) as { status: string; inFlight: number } };
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

test('a pool process serves /healthz and Prometheus /metrics on the port from its ready line', async () => {
  const { w, base } = await spawnLowPool(5_000);
  const h = await health(base);
  expect(h.code).toBe(200);
  expect(h.body).toMatchObject({ status: 'ok', group: 'demo', lane: 'low', taskQueue: 'tideway.demo.low', inFlight: 0 });

  const id = uniqueId('metrics');
  await stack.client.submit('demo.sleep', { ms: 2_000 }, { taskId: id, lane: 'low' });
  await waitFor(() => stack.ledgerFor(id).length > 0, 30_000, 'attempt started');
  const during = await (await fetch(`${base}/metrics`)).text();
  expect(metric(during, 'tideway_pool_tasks_in_flight', { lane: 'low' })).toBe(1);
  expect(metric(during, 'tideway_pool_slots', { kind: 'max' })).toBe(20);
  expect(metric(during, 'tideway_pool_slots', { kind: 'limit' })).toBe(20);
  expect(metric(during, 'tideway_pool_slots', { kind: 'used' })).toBe(1);
  await stack.client.result(id);

  const failId = uniqueId('throttled');
  await stack.client.submit('demo.fail', { errorClass: 'throttled', times: 1, retryAfterMs: 100 }, { taskId: failId, lane: 'low' });
  await stack.client.result(failId);
  const after = await (await fetch(`${base}/metrics`)).text();
  expect(metric(after, 'tideway_pool_tasks_in_flight')).toBe(0);
  expect(metric(after, 'tideway_pool_throttled_total', { task_type: 'demo.fail' })).toBe(1);
  expect(metric(after, 'tideway_pool_attempts_total', { task_type: 'demo.fail', outcome: 'ok' })).toBe(1);
  expect(metric(after, 'tideway_pool_task_duration_seconds_count', { task_type: 'demo.sleep', outcome: 'ok' })).toBe(1);
  expect(await (await fetch(`${base}/nope`)).json()).toMatchObject({ error: { type: 'NotFound' } });
  await w.stop();
});

test('SIGTERM drains: polling stops, the in-flight task finishes within the grace, /healthz says draining', async () => {
  const { w, base } = await spawnLowPool(30_000);
  const running = uniqueId('drain-finish');
  await stack.client.submit('demo.sleep', { ms: 4_000 }, { taskId: running, lane: 'low' });
  await waitFor(() => stack.ledgerFor(running).length > 0, 30_000, 'attempt started');
  expect(stack.ledgerFor(running)[0]!.pid).toBe(w.pid);

  w.child.kill('SIGTERM');
  await waitFor(async () => (await health(base)).code === 503, 10_000, '/healthz to answer 503 draining');
  expect((await health(base)).body).toMatchObject({ status: 'draining', inFlight: 1 });
  // Submitted while the pool drains: it must wait for another pool, not start on this one.
  const later = uniqueId('drain-later');
  await stack.client.submit('demo.echo', { n: 1 }, { taskId: later, lane: 'low' });

  expect(await w.exited).toBe(0);
  const ran = stack.ledgerFor(running);
  expect(ran).toHaveLength(1);
  expect(await stack.client.result(running)).toMatchObject({ sleptMs: expect.any(Number) });
  expect(stack.ledgerFor(later)).toHaveLength(0);

  const next = await spawnLowPool(5_000);
  await expect(stack.client.result(later)).resolves.toEqual({ n: 1 });
  expect(stack.ledgerFor(later).map((e) => e.pid)).toEqual([next.w.pid]);
  await next.w.stop();
});

test('a task cut off by the grace period is retried on another pool process, not lost', async () => {
  const first = await spawnLowPool(1_000);
  const id = uniqueId('drain-cut');
  await stack.client.submit('demo.sleep', { ms: 6_000 }, { taskId: id, lane: 'low' });
  await waitFor(() => stack.ledgerFor(id).length > 0, 30_000, 'attempt started');
  expect(stack.ledgerFor(id)[0]!.pid).toBe(first.w.pid);

  const second = await spawnLowPool(30_000);
  expect(await first.w.stop()).toBe(0);
  // The first process is gone while the 6 s attempt was still running: it must have been cut off.
  expect(stack.ledgerFor(id)).toHaveLength(1);

  await expect(stack.client.result(id)).resolves.toMatchObject({ sleptMs: expect.any(Number) });
  const attempts = stack.ledgerFor(id);
  expect(attempts.map((e) => [e.attempt, e.pid])).toEqual([
    [1, first.w.pid],
    [2, second.w.pid],
  ]);
  const state = await stack.client.get(id);
  expect(state).toMatchObject({ status: 'succeeded', attempts: 2 });
  // The workflow was told why attempt 1 ended.
  expect(state.lastError).toMatchObject({ type: 'WorkerShutdown', class: 'retryable', attempt: 1 });
  // The first attempt was failed by the draining worker itself (not timed out by the server).
  const history = await stack.temporal.workflow.getHandle(id).fetchHistory();
  const started = (history.events ?? []).flatMap((e) =>
    e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes] : [],
  );
  expect(started.map((s) => [s.attempt, s.lastFailure?.applicationFailureInfo?.type])).toEqual([[2, 'WorkerShutdown']]);
  await second.w.stop();
});
