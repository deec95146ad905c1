import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskConflictError, TaskFailedError } from '../../api/errors';
import { addTotals, yieldOf, ZERO_TOTALS, type YieldTotals } from '../../examples/demo/yield';
import { expectNoLeakedWorkers, readLedger, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';
import { listen, type Caller } from './api-helpers';

/**
 * Batch tasks on the real server with real worker processes: the demo's `demo.yield` batch (maxParallel
 * 8, split pages of 50, a continue-as-new every 100 shards) fans out over the demo pool, its totals
 * match a direct computation, no more than 8 shards ever run at once (by the handlers' ledger),
 * `continue` finishes listing its failed shards, `fail_fast` cancels the rest, a control worker
 * killed mid-batch starts no shard twice, and a redrive runs just the failed shards of a finished
 * batch and completes its totals.
 */

jest.setTimeout(240_000);

let stack: Stack;
let api: ApiServer;
let call: Caller;
const KEY = 'default-batch-key-01';

beforeAll(async () => {
  // demo.yield runs on the low lane, demo.yield-strict on the normal lane: only those pools.
  stack = await startStack({
    pools: [
      ['demo', 'low'],
      ['demo', 'normal'],
    ],
  });
  api = await buildApiServer({ client: stack.client, keys: ApiKeyStore.parse(`default=${KEY}`), backpressure: false });
  ({ call } = await listen(api));
}, 120_000);

afterAll(async () => {
  await api?.close();
  await stack?.stop();
  expectNoLeakedWorkers();
}, 60_000);

interface ShardRun {
  taskId: string;
  attempt: number;
  phase?: 'start' | 'end';
  at: number;
}

/** The ledger's shard runs of batch `id`. */
function shardRuns(id: string): ShardRun[] {
  return (readLedger(stack.ledger) as unknown as ShardRun[]).filter((e) => e.taskId.startsWith(`${id}/shard-`));
}

/** Most shards running at once, from the ledger's start and end lines. */
function peakParallel(runs: ShardRun[]): number {
  const edges = runs
    .filter((r) => r.phase)
    .map((r) => ({ at: r.at, d: r.phase === 'start' ? 1 : -1 }))
    // Ends before starts at the same millisecond: a slot freed and taken is not two at once.
    .sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) {
    now += e.d;
    peak = Math.max(peak, now);
  }
  return peak;
}

/** Handler starts per shard ID (1 everywhere = no shard ran twice). */
function startsPerShard(runs: ShardRun[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of runs) if (r.phase === 'start') m.set(r.taskId, (m.get(r.taskId) ?? 0) + 1);
  return m;
}

function expected(seed: number, accounts: number, perShard: number, skip: number[] = []): YieldTotals {
  let t = ZERO_TOTALS;
  for (let shard = 0, from = 0; from < accounts; shard++, from += perShard) {
    if (!skip.includes(shard)) t = addTotals(t, yieldOf(seed, from, Math.min(accounts, from + perShard)));
  }
  return t;
}

it('fans 120 shards out over the pool, never more than maxParallel at once, and reduces to the direct totals', async () => {
  const id = uniqueId('yield');
  const t0 = Date.now();
  const sub = await stack.client.submit('demo.yield', { accounts: 6000, seed: 42, perShard: 50, shardMs: 150 }, { taskId: id });
  expect(sub).toMatchObject({ taskId: id, duplicate: false });

  // Progress while it runs: the parent's state says total, done, failed and running.
  const mid = await waitFor(
    async () => {
      const s = await stack.client.get(id);
      return s.batch && s.batch.done >= 20 && s.status === 'running' ? s : undefined;
    },
    60_000,
    'the batch to be under way',
  );
  expect(mid.batch!.running).toBeLessThanOrEqual(8);
  expect(mid.batch!.maxParallel).toBe(8);

  const res = await stack.client.result(id, 'demo.yield');
  const wallMs = Date.now() - t0;
  expect(res).toEqual({ output: expected(42, 6000, 50), total: 120, succeeded: 120, failed: 0, failedShards: [] });
  expect(res.output.accounts).toBe(6000);

  const done = await stack.client.get(id);
  expect(done.status).toBe('succeeded');
  // 120 shards over 100-shard runs: the parent continued as new once.
  expect(done.batch).toMatchObject({ total: 120, splitDone: true, done: 120, failed: 0, running: 0, runs: 2 });

  const runs = shardRuns(id);
  const starts = startsPerShard(runs);
  expect(starts.size).toBe(120);
  expect([...starts.values()].every((n) => n === 1)).toBe(true);
  const peak = peakParallel(runs);
  expect(peak).toBeLessThanOrEqual(8);
  expect(peak).toBeGreaterThanOrEqual(4); // it did fan out
  // A shard is an ordinary task: its own state, type and result.
  const shard = await stack.client.get(`${id}/shard-7`);
  expect(shard).toMatchObject({ type: 'demo.yield#shard', status: 'succeeded', lane: 'low', group: 'demo' });
  // Over HTTP: the batch's progress, and a shard by its (URL-encoded) ID.
  const overHttp = await call('GET', `/v1/tasks/${id}`, { key: KEY });
  expect(overHttp.status).toBe(200);
  expect(overHttp.body.batch).toMatchObject({ total: 120, done: 120, failed: 0, running: 0 });
  const shardHttp = await call('GET', `/v1/tasks/${encodeURIComponent(`${id}/shard-7`)}`, { key: KEY });
  expect(shardHttp.status).toBe(200);
  expect(shardHttp.body).toMatchObject({ taskId: `${id}/shard-7`, status: 'succeeded' });
  console.log(`batch of 120 shards: ${wallMs} ms, peak parallel ${peak}`);
});

it('with onShardFailure continue, finishes and lists the failed shards; the totals leave them out', async () => {
  const id = uniqueId('yield-cont');
  await stack.client.submit('demo.yield', { accounts: 1000, seed: 7, perShard: 50, failShards: [3, 11] }, { taskId: id });
  const res = await stack.client.result(id, 'demo.yield');
  expect(res.total).toBe(20);
  expect(res.succeeded).toBe(18);
  expect(res.failed).toBe(2);
  expect([...res.failedShards].sort()).toEqual([`${id}/shard-11`, `${id}/shard-3`]);
  expect(res.output).toEqual(expected(7, 1000, 50, [3, 11]));
  const s = await stack.client.get(id);
  expect(s.batch).toMatchObject({ total: 20, done: 18, failed: 2 });
  // The failed shards are ordinary dead letters (redrive or discard them); discard them here.
  for (const f of res.failedShards) {
    expect((await stack.client.get(f)).status).toBe('dead_lettered');
    await stack.client.discard(f);
  }
});

it('hands the shards running at a continue-as-new to the next run, which counts each once, a dead letter among them too', async () => {
  const id = uniqueId('yield-carry');
  // 120 shards, 100 per run: shards 96-99 are among the last 8 started before the continue-as-new,
  // still running (400 ms each) when it happens; 98 and 99 then dead-letter in the next run.
  await stack.client.submit('demo.yield', { accounts: 6000, seed: 13, perShard: 50, shardMs: 400, failShards: [98, 99] }, { taskId: id });
  const res = await stack.client.result(id, 'demo.yield');
  expect(res).toMatchObject({ total: 120, succeeded: 118, failed: 2 });
  expect([...res.failedShards].sort()).toEqual([`${id}/shard-98`, `${id}/shard-99`]);
  expect(res.output).toEqual(expected(13, 6000, 50, [98, 99]));
  const done = await stack.client.get(id);
  expect(done.batch).toMatchObject({ runs: 2, running: 0 });
  // The second run started with shards of the first one still running: its history has an
  // awaitShards call, and no shard ran twice.
  const second = await stack.temporal.workflow.getHandle(id).fetchHistory();
  const awaited = (second.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitShards');
  expect(awaited.length).toBeGreaterThanOrEqual(1);
  const starts = startsPerShard(shardRuns(id));
  expect(starts.size).toBe(120);
  expect([...starts.values()].every((n) => n === 1)).toBe(true);
  // The batch's redrive folds the two in: the totals become the direct ones.
  await stack.client.redrive(id);
  const again = await waitFor(
    async () => {
      const r = await stack.client.get(id);
      return r.status === 'succeeded' && r.batch?.failed === 0 ? r : undefined;
    },
    60_000,
    'the redriven batch',
  );
  expect(again.result).toMatchObject({ output: expected(13, 6000, 50), failed: 0, succeeded: 120 });
});

it('with onShardFailure fail_fast, the first failed shard cancels the running ones and fails the batch', async () => {
  const id = uniqueId('yield-strict');
  await stack.client.submit('demo.yield-strict', { accounts: 2000, seed: 3, perShard: 50, shardMs: 400, failShards: [2] }, { taskId: id });
  await expect(stack.client.result(id, 'demo.yield-strict')).rejects.toBeInstanceOf(TaskFailedError);
  const s = await stack.client.get(id);
  expect(s.status).toBe('failed');
  expect(s.batch!.failedShards).toContain(`${id}/shard-2`);
  // Far from all 40 shards started: the batch stopped at the failure.
  expect(startsPerShard(shardRuns(id)).size).toBeLessThan(20);
  await stack.client.discard(`${id}/shard-2`).catch(() => undefined);
});

it('starts no shard twice when the control worker is killed mid-batch, and the batch completes', async () => {
  const id = uniqueId('yield-kill');
  await stack.client.submit('demo.yield', { accounts: 4000, seed: 99, perShard: 50, shardMs: 300 }, { taskId: id });
  await waitFor(
    async () => {
      const s = await stack.client.get(id);
      return s.batch && s.batch.done >= 12;
    },
    60_000,
    'a dozen shards done',
  );
  const control = stack.workers.find((w) => w.role.role === 'control')!;
  await control.kill();
  await new Promise((r) => setTimeout(r, 1000));
  await stack.spawn({ role: 'control' });

  const res = await stack.client.result(id, 'demo.yield');
  expect(res).toEqual({ output: expected(99, 4000, 50), total: 80, succeeded: 80, failed: 0, failedShards: [] });
  const starts = startsPerShard(shardRuns(id));
  expect(starts.size).toBe(80);
  expect([...starts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  expect(peakParallel(shardRuns(id))).toBeLessThanOrEqual(8);
});

it('cancelling a batch cancels its running shards and starts no more', async () => {
  const id = uniqueId('yield-cancel');
  await stack.client.submit('demo.yield', { accounts: 2000, seed: 5, perShard: 50, shardMs: 5000 }, { taskId: id });
  await waitFor(
    async () => {
      const s = await stack.client.get(id);
      return s.batch && s.batch.running >= 8;
    },
    30_000,
    'the first shards running',
  );
  await stack.client.cancel(id);
  await expect(stack.client.result(id, 'demo.yield')).rejects.toBeInstanceOf(TaskFailedError);
  expect((await stack.client.get(id)).status).toBe('cancelled');
  const shard0 = await waitFor(
    async () => {
      const s = await stack.client.get(`${id}/shard-0`);
      return ['cancelled', 'succeeded'].includes(s.status) ? s : undefined;
    },
    30_000,
    'shard 0 to close',
  );
  expect(shard0.status).toBe('cancelled');
  expect(startsPerShard(shardRuns(id)).size).toBeLessThanOrEqual(8);
});

it('redrives just the failed shards of a finished batch, and its totals become the direct ones', async () => {
  const id = uniqueId('yield-redrive');
  await stack.client.submit('demo.yield', { accounts: 1000, seed: 11, perShard: 50, failShards: [3, 11] }, { taskId: id });
  const first = await stack.client.result(id, 'demo.yield');
  expect(first).toMatchObject({ total: 20, succeeded: 18, failed: 2 });
  expect(first.output).toEqual(expected(11, 1000, 50, [3, 11]));

  const r = await stack.client.redrive(id);
  expect(r).toEqual({ taskId: id, shards: 2, failed: 2 });
  const res = await stack.client.result(id, 'demo.yield');
  expect(res).toEqual({ output: expected(11, 1000, 50), total: 20, succeeded: 20, failed: 0, failedShards: [], redriven: 2 });
  // The direct computation over the whole book, one shard's worth of totals per shard.
  expect(res.output).toEqual({ ...yieldOf(11, 0, 1000), shards: 20 });

  const s = await stack.client.get(id);
  expect(s).toMatchObject({ status: 'succeeded', redrives: 1 });
  expect(s.batch).toMatchObject({ total: 20, done: 20, failed: 0, failedShards: [], redrive: { round: 1, shards: 2, done: 2, failed: 0 } });
  expect(await stack.client.get(`${id}/shard-3`)).toMatchObject({ status: 'succeeded', redrives: 1 });
  // By the handlers' ledger: the two failed shards ran twice, no other shard ran again.
  const starts = startsPerShard(shardRuns(id));
  expect(starts.size).toBe(20);
  expect([...starts.entries()].filter(([, n]) => n !== 1).sort()).toEqual([
    [`${id}/shard-11`, 2],
    [`${id}/shard-3`, 2],
  ]);
});

it('a redriven shard that is closed starts afresh, one that fails again stays failed, and a second redrive completes the batch', async () => {
  const id = uniqueId('yield-redrive2');
  await stack.client.submit('demo.yield', { accounts: 300, seed: 12, perShard: 50, failShards: [2] }, { taskId: id });
  expect(await stack.client.result(id, 'demo.yield')).toMatchObject({ total: 6, failed: 1, failedShards: [`${id}/shard-2`] });
  // Discarded: the shard closes failed, so the redrive starts it again (and its first attempt fails again).
  const shard = `${id}/shard-2`;
  await stack.client.discard(shard);
  await waitFor(async () => (await stack.client.get(shard)).status === 'failed', 30_000, 'the discarded shard to close');

  // Over HTTP: the answer says how many shards it runs again.
  const redrive = await call('POST', `/v1/tasks/${id}:redrive`, { key: KEY });
  expect(redrive.status).toBe(202);
  expect(redrive.body).toMatchObject({ taskId: id, action: 'redrive', accepted: true, shards: 1, failed: 1 });
  const again = await stack.client.result(id, 'demo.yield');
  // It dead-lettered again: the redrive heard it (the shard's dead letter reaches the batch's new run).
  expect(again).toMatchObject({ total: 6, succeeded: 5, failed: 1, failedShards: [shard], redriven: 0 });
  expect(again.output).toEqual(expected(12, 300, 50, [2]));
  expect((await stack.client.get(id)).batch?.redrive).toMatchObject({ round: 1, shards: 1, done: 0, failed: 1 });
  expect((await stack.client.get(shard)).status).toBe('dead_lettered');

  // Dead-lettered now: the next redrive signals it, and its second attempt succeeds.
  expect(await stack.client.redrive(id)).toEqual({ taskId: id, shards: 1, failed: 1 });
  const done = await stack.client.result(id, 'demo.yield');
  expect(done).toEqual({ output: expected(12, 300, 50), total: 6, succeeded: 6, failed: 0, failedShards: [], redriven: 1 });
  expect((await stack.client.get(id)).redrives).toBe(2);
  const starts = startsPerShard(shardRuns(id));
  expect([...starts.entries()].filter(([, n]) => n !== 1)).toEqual([[shard, 3]]);
});

it('redriving a batch with no failed shards, or a running one, is a conflict that says why', async () => {
  const id = uniqueId('yield-noredrive');
  await stack.client.submit('demo.yield', { accounts: 100, seed: 13, perShard: 50, shardMs: 1500 }, { taskId: id });
  const running = stack.client.redrive(id);
  await expect(running).rejects.toBeInstanceOf(TaskConflictError);
  await expect(running).rejects.toThrow(/can be redriven once it has finished with failed shards/);
  expect(await stack.client.result(id, 'demo.yield')).toMatchObject({ failed: 0 });
  const none = stack.client.redrive(id);
  await expect(none).rejects.toBeInstanceOf(TaskConflictError);
  await expect(none).rejects.toThrow(`batch ${id} has no failed shards; nothing to redrive`);
  const overHttp = await call('POST', `/v1/tasks/${id}:redrive`, { key: KEY });
  expect(overHttp.status).toBe(409);
  expect(overHttp.body.error).toMatchObject({ type: 'TaskConflict' });
  // A lane is for one task: a batch's shards run on the batch's lane.
  await expect(stack.client.redrive(id, { lane: 'high' })).rejects.toThrow(/lane applies to one task/);
});
