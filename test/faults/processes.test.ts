import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bulkChunkWorkflowId } from '../../config/names';
import { DEMO_CONFIG, expectNoLeakedWorkers, readLedger, uniqueId, waitFor } from '../helpers/stack';
import { caller } from '../integration/api-helpers';
import { checkLedger, faultStack, spawnApi, spawnNode, tail, TcpProxy, type FaultStack } from './helpers';

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
    const rescuer = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    const summary = await checkLedger({ ...stack, accepted: ids });
    // The killed run(s) really were retried: at least one task ran twice, none succeeded twice…
    expect(summary.rerun).toBeGreaterThanOrEqual(1);
    // …and each task the victim was running when it died ran as attempt 2 in the new process.
    const ledger = readLedger(stack.ledger);
    const finished = new Set(
      readLedger(stack.doneLedger)
        .filter((r) => r.pid === victim.pid)
        .map((r) => r.taskId),
    );
    const hit = new Set(ledger.filter((r) => r.pid === victim.pid && !finished.has(r.taskId)).map((r) => r.taskId));
    expect(hit.size).toBeGreaterThanOrEqual(1);
    for (const id of hit) {
      const runs = ledger.filter((r) => r.taskId === id).map((r) => [r.pid, r.attempt]);
      expect(runs).toContainEqual([rescuer.pid, 2]);
    }
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
  const stack = await faultStack({
    pools: [
      ['demo', 'normal'],
      ['demo', 'low'],
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'tideway-kapi-'));
  const log = join(dir, 'api.log');
  const KEY = 'faults-api-key-0001';
  // The API reaches Temporal through a proxy, so the kill can land at the worst moment: after the
  // server stored the intake's first chunk, before the API heard so (and before it answered).
  const [host, port] = stack.address.split(':') as [string, string];
  const proxy = new TcpProxy({ host, port: Number(port) });
  await proxy.start();
  let api = await spawnApi({ address: proxy.address, keys: `acme=${KEY}`, log });
  try {
    const bulkId = uniqueId('kapi');
    // Two lanes, so two chunks of the durable intake (one per lane and 500 tasks).
    const tasks = Array.from({ length: 120 }, (_, i) => ({
      type: 'demo.echo',
      input: { i, pad: 'x'.repeat(100) },
      lane: i % 2 === 0 ? 'normal' : 'low',
      taskId: `${bulkId}-${i}`,
    }));
    const body = { bulkId, tasks };
    // The owner check before the chunks is small; a chunk's start (60 tasks, > 6 KB) trips the mute.
    proxy.muteRepliesAfter(6_000);
    const first = caller(api.url)('POST', '/v1/tasks:bulk', { key: KEY, json: body }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    const chunkStored = await waitFor(
      () => stack.temporal.workflow.getHandle(bulkChunkWorkflowId(bulkId, 0)).describe(),
      15_000,
      'chunk 0',
    ).then(
      () => true,
      () => false,
    );
    await api.kill('SIGKILL');
    const firstOutcome = await first;
    // The fault hit mid-request: the client got no answer, and the server holds the first chunk.
    expect(firstOutcome).not.toBe(202);
    expect(chunkStored).toBe(true);
    api = await spawnApi({ address: stack.address, keys: `acme=${KEY}`, log, port: api.port });
    const retry = await caller(api.url)('POST', '/v1/tasks:bulk', { key: KEY, json: body });
    expect(retry.status).toBe(202);
    expect(retry.body.taskIds).toEqual(tasks.map((t) => t.taskId));
    const summary = await checkLedger({ ...stack, accepted: tasks.map((t) => t.taskId), timeoutMs: 200_000 });
    expect(summary.accepted).toBe(120);
    // Each ran once: nothing in this scenario fails a run, so a second run would be a duplicate start.
    expect(summary.rerun).toBe(0);
    process.stdout.write(`API kill: first request ${String(firstOutcome)}, chunk 0 stored before the kill: ${chunkStored}; retry 202\n`);
  } finally {
    await api.kill('SIGTERM');
    await proxy.stop();
    await stack.stop();
  }
});
