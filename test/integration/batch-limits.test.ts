import { join } from 'node:path';
import { TaskClient } from '../../api/task-client';
import { catalog } from '../fixtures/projects/batch-limits/catalog';
import { expectNoLeakedWorkers, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';

/**
 * A batch against Temporal's limits, on the real server: shard results travel through the parent's
 * history (a child's result is in its completion event), so results near the 2 MiB payload limit
 * must not grow one run's history without bound. The batch reduces incrementally (the output is a
 * fold, never a list of results) and continues as new when Temporal suggests it, so every run stays
 * far below the 50 MiB history limit. A shard result over the payload limit fails that shard, with
 * Temporal's error, and the batch (onShardFailure continue) lists it and finishes.
 */
jest.setTimeout(240_000);

const CONFIG = join(__dirname, '..', 'fixtures', 'projects', 'batch-limits', 'tideway.config.ts');
const app = catalog.withApp('limits');
let stack: Stack;
let client: TaskClient<typeof app extends { tasks: infer T } ? T : never>;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, pools: [['limits', 'normal']] });
  client = new TaskClient({ client: stack.temporal, catalog: app, admission: { kind: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  expectNoLeakedWorkers();
});

/** Every run of a workflow ID (continue-as-new), with its history size. */
async function runsOf(id: string): Promise<{ events: number; bytes: number }[]> {
  const out: { events: number; bytes: number }[] = [];
  for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = '${id}'` })) {
    out.push({ events: w.historyLength, bytes: w.historySize ?? 0 });
  }
  return out;
}

it('runs 1,200 shards whose results are exactly at the 8 KiB limit: every run of the parent stays far below the history limits', async () => {
  const id = uniqueId('limits');
  await client.submit('limits.blobs', { shards: 1200, bytes: 8192 }, { taskId: id });
  const out = await client.result(id, 'limits.blobs');
  expect(out).toMatchObject({ total: 1200, succeeded: 1200, failed: 0 });
  expect(out.output).toEqual({ count: 1200, bytes: 1200 * 8192, sum: (1200 * 1199) / 2, kept: [] });
  const runs = await runsOf(id);
  // At most shardsPerRun (500) shards per run (Temporal may suggest continue-as-new sooner), each with about 500 × 8 KiB of results in it twice
  // (the child's completion and the reduce page's input), against 50 MiB and 51,200 events.
  expect(runs.length).toBeGreaterThanOrEqual(3);
  const peakBytes = Math.max(...runs.map((r) => r.bytes));
  const peakEvents = Math.max(...runs.map((r) => r.events));
  expect(peakBytes).toBeGreaterThan(4 * 1024 * 1024);
  expect(peakBytes).toBeLessThan(12 * 1024 * 1024);
  expect(peakEvents).toBeLessThan(5_000);
});

it('fails a shard whose result is one byte over the limit, saying so, and finishes the rest', async () => {
  const id = uniqueId('limits-big');
  await client.submit('limits.blobs', { shards: 6, bytes: 8192, bigShard: 2 }, { taskId: id });
  const out = await client.result(id, 'limits.blobs');
  expect(out).toMatchObject({ total: 6, succeeded: 5, failed: 1, failedShards: [`${id}/shard-2`] });
  expect(out.output).toMatchObject({ count: 5, sum: 0 + 1 + 3 + 4 + 5 });
  const shard = await client.get(`${id}/shard-2`);
  expect(shard.status).toBe('dead_lettered');
  expect(shard.lastError?.message).toBe("limits.blobs#shard returned 8193 bytes; a shard's result may be at most 8192");
  // The batch is a task in lists and counts, beside its shards (type `<name>#shard`).
  await waitFor(
    async () => (await client.list({ type: 'limits.blobs' })).tasks.some((t) => t.taskId === id && t.status === 'succeeded'),
    10_000,
  );
  expect(await client.count({ type: 'limits.blobs#shard', status: 'dead_lettered' })).toBeGreaterThanOrEqual(1);
});

it('fails the batch, saying why, when its reduced output grows past 256 KiB', async () => {
  const id = uniqueId('limits-out');
  // 40 results of 8 KiB kept in the output: 320 KiB.
  await client.submit('limits.blobs', { shards: 40, bytes: 8192, keep: true }, { taskId: id });
  await expect(client.result(id, 'limits.blobs')).rejects.toThrow(
    /batch failed: reduce failed: limits.blobs reduce returned \d+ bytes; a batch's output may be at most 262144/,
  );
  const s = await client.get(id);
  expect(s.status).toBe('failed');
  expect(s.lastError?.message).toMatch(/^batch failed: reduce failed: .*at most 262144$/);
});
