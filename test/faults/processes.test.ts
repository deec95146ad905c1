import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CONFIG, expectNoLeakedWorkers, readLedger, uniqueId, waitFor } from '../helpers/stack';
import { caller } from '../integration/api-helpers';
import { checkLedger, faultStack, spawnApi, spawnNode, tail, type FaultStack } from './helpers';

/**
 * SIGKILL of each Tideway process while tasks are in flight: a pool worker, the control worker,
 * the scaler, and the HTTP API during a bulk submit. Every scenario ends with the ledger check.
 */

jest.setTimeout(240_000);
afterAll(() => expectNoLeakedWorkers());

const sleepMany = async (stack: FaultStack, prefix: string, n: number, ms: number) => {
  const ids = Array.from({ length: n }, (_, i) => uniqueId(`${prefix}${i}`));
  for (const id of ids) await stack.client.submit('demo.sleep', { ms }, { taskId: id });
  return ids;
};

test('SIGKILL of a pool worker mid-task: its tasks are retried on another worker, each succeeds once', async () => {
  const stack = await faultStack({ pools: [] });
  try {
    const victim = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    const ids = await sleepMany(stack, 'kpool', 12, 2_500);
    await waitFor(() => readLedger(stack.ledger).some((r) => r.pid === victim.pid), 30_000, 'a task running on the victim');
    expect(await victim.kill()).toBe('SIGKILL');
    await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    const summary = await checkLedger({ ...stack, accepted: ids });
    // The killed run(s) really were retried: at least one task ran twice, none succeeded twice.
    expect(summary.rerun).toBeGreaterThanOrEqual(1);
  } finally {
    await stack.stop();
  }
});

test('SIGKILL of the control worker: another control worker picks the workflows up', async () => {
  const stack = await faultStack({ pools: [['demo', 'normal']] });
  try {
    const ids = await sleepMany(stack, 'kctl', 10, 2_000);
    await waitFor(() => readLedger(stack.ledger).length >= 1, 30_000, 'a task running');
    const control = stack.workers.find((w) => w.role.role === 'control')!;
    expect(await control.kill()).toBe('SIGKILL');
    // Submits keep being accepted while no control worker runs (they wait in the control queue).
    const more = await sleepMany(stack, 'kctl-late', 5, 500);
    await stack.spawn({ role: 'control' });
    await checkLedger({ ...stack, accepted: [...ids, ...more] });
  } finally {
    await stack.stop();
  }
});

test('SIGKILL of the scaler: its pools keep running, a new scaler adopts them, every task completes once', async () => {
  const stack = await faultStack({ pools: [] });
  const dir = mkdtempSync(join(tmpdir(), 'tideway-kscaler-'));
  const registry = join(dir, 'pools.json');
  const args = [
    '--actuator',
    'process',
    '--pools',
    'demo.normal',
    '--interval',
    '1s',
    '--registry-file',
    registry,
    '--state-file',
    join(dir, 'state.json'),
    '--log-dir',
    dir,
    '--options',
    JSON.stringify({ poolOverrides: { 'demo.normal': { minReplicas: 1, maxReplicas: 2 } } }),
  ];
  const env = {
    TIDEWAY_CONFIG: DEMO_CONFIG,
    TEMPORAL_ADDRESS: stack.address,
    TIDEWAY_DEMO_LEDGER: stack.ledger,
    TIDEWAY_DEMO_DONE_LEDGER: stack.doneLedger,
    TIDEWAY_LOG_LEVEL: 'info',
  };
  const poolPids = () => {
    if (!existsSync(registry)) return [];
    const reg = JSON.parse(readFileSync(registry, 'utf8')) as { pools?: Record<string, number[]> };
    return Object.values(reg.pools ?? {}).flat();
  };
  let scaler = spawnNode('scaler/main.js', args, env, join(dir, 'scaler.log'));
  const seen = new Set<number>();
  try {
    const ids = await sleepMany(stack, 'kscaler', 12, 2_000);
    await waitFor(() => readLedger(stack.ledger).length >= 1, 60_000, `the scaler's pool to run a task: ${tail(scaler.log)}`);
    for (const p of poolPids()) seen.add(p);
    await scaler.kill('SIGKILL');
    const more = await sleepMany(stack, 'kscaler-late', 4, 500);
    scaler = spawnNode('scaler/main.js', args, env, join(dir, 'scaler.log'));
    await checkLedger({ ...stack, accepted: [...ids, ...more] });
    for (const p of poolPids()) seen.add(p);
    expect(readFileSync(scaler.log, 'utf8')).not.toMatch(/Error:/);
  } finally {
    await scaler.kill('SIGTERM');
    // The scaler stops its pools on SIGTERM; anything left (a pool of the killed one) is ended here.
    for (const pid of [...seen, ...poolPids()]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await stack.stop();
  }
});

test('SIGKILL of the API during a bulk submit: the client retries with the same IDs, no task twice', async () => {
  const stack = await faultStack({ pools: [['demo', 'normal']] });
  const dir = mkdtempSync(join(tmpdir(), 'tideway-kapi-'));
  const log = join(dir, 'api.log');
  const KEY = 'faults-api-key-0001';
  let api = await spawnApi({ address: stack.address, keys: `acme=${KEY}`, log });
  try {
    const bulkId = uniqueId('kapi');
    const tasks = Array.from({ length: 300 }, (_, i) => ({ type: 'demo.echo', input: { i }, taskId: `${bulkId}-${i}` }));
    const body = { bulkId, tasks };
    const first = caller(api.url)('POST', '/v1/tasks:bulk', { key: KEY, json: body }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    // Killed while the request is being handled: the client sees a reset (or, if it won, a 202).
    await new Promise((r) => setTimeout(r, 40));
    await api.kill('SIGKILL');
    const firstOutcome = await first;
    api = await spawnApi({ address: stack.address, keys: `acme=${KEY}`, log, port: api.port });
    const retry = await caller(api.url)('POST', '/v1/tasks:bulk', { key: KEY, json: body });
    expect(retry.status).toBe(202);
    expect(retry.body.taskIds).toEqual(tasks.map((t) => t.taskId));
    const summary = await checkLedger({ ...stack, accepted: tasks.map((t) => t.taskId), timeoutMs: 200_000 });
    expect(summary.accepted).toBe(300);
    // Each ran once: nothing in this scenario fails a run, so a second run would be a duplicate start.
    expect(summary.rerun).toBe(0);
    process.stdout.write(`API kill: first request ${String(firstOutcome)}, retry 202\n`);
  } finally {
    await api.kill('SIGTERM');
    await stack.stop();
  }
});
