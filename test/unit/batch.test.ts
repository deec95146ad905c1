import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';
import { createPoolActivities, type SplitPage } from '../../activities/execute';
import { taskStartOptions } from '../../api/start-task';
import { defineCatalog } from '../../config/catalog-schema';
import { resolveEnvelope, taskIdSchema, taskRefSchema } from '../../config/envelope';
import { RUN_BATCH_WORKFLOW, RUN_TASK_WORKFLOW, shardTaskId } from '../../config/names';
import { batchTypeOfShard, defineBatchHandler, defineBatchTask, defineTask, shardTypeOf, type GroupHandler } from '../../config/task';
import { batchProgressLine } from '../../cli/format';
import { catalog as demo } from '../../examples/demo/catalog';
import { addTotals, syntheticAccount, yieldOf, ZERO_TOTALS } from '../../examples/demo/yield';

const numbers = defineBatchTask({
  name: 'calc.sum',
  group: 'calc',
  input: z.object({ n: z.number().int() }),
  shardInput: z.object({ i: z.number().int() }).strict(),
  output: z.number(),
  pageSize: 10,
});
const catalog = defineCatalog({ tasks: [numbers, defineTask({ name: 'calc.one', group: 'calc', input: z.unknown() })] });

describe('batch declarations', () => {
  test('compile with their defaults, beside ordinary types', () => {
    expect(catalog.get('calc.sum')?.batch).toEqual({ maxParallel: 100, onShardFailure: 'fail_fast', pageSize: 10, shardsPerRun: 500 });
    expect(catalog.get('calc.one')?.batch).toBeUndefined();
    expect(demo.get('demo.yield')?.batch).toEqual({ maxParallel: 8, onShardFailure: 'continue', pageSize: 50, shardsPerRun: 100 });
  });

  test('bad options and inline code are refused, naming the field', () => {
    expect(() => defineCatalog({ tasks: [defineBatchTask({ name: 'a.b', group: 'a', input: z.unknown(), maxParallel: 0 })] })).toThrow(
      /batch\.maxParallel/,
    );
    const inline = { ...defineBatchTask({ name: 'a.b', group: 'a', input: z.unknown() }), handler: async () => 1 };
    expect(() => defineCatalog({ tasks: [inline] })).toThrow(/handler/);
  });

  test('resolve to runBatch; shard types cannot be submitted', () => {
    const r = resolveEnvelope(catalog, { type: 'calc.sum', input: { n: 3 } });
    expect(r.batch?.maxParallel).toBe(100);
    expect(taskStartOptions(catalog, r, { type: 'calc.sum', input: { n: 3 } }, 't1').workflowType).toBe(RUN_BATCH_WORKFLOW);
    const one = resolveEnvelope(catalog, { type: 'calc.one', input: 1 });
    expect(taskStartOptions(catalog, one, { type: 'calc.one', input: 1 }, 't2').workflowType).toBe(RUN_TASK_WORKFLOW);
    expect(() => resolveEnvelope(catalog, { type: shardTypeOf('calc.sum'), input: { i: 1 } })).toThrow(/unknown task type/i);
  });

  test('shard IDs are outside the task-ID alphabet, and lookups take them', () => {
    expect(shardTaskId('nightly-1', 42)).toBe('nightly-1/shard-42');
    expect(batchTypeOfShard('calc.sum#shard')).toBe('calc.sum');
    expect(batchTypeOfShard('calc.sum')).toBeUndefined();
    expect(taskIdSchema.safeParse('nightly-1/shard-42').success).toBe(false);
    expect(taskRefSchema.safeParse('nightly-1/shard-42').success).toBe(true);
    expect(taskRefSchema.safeParse('nightly-1').success).toBe(true);
    expect(taskRefSchema.safeParse('../x/shard-1').success).toBe(false);
    expect(taskRefSchema.safeParse('a/shard-01').success).toBe(false);
    expect(taskRefSchema.safeParse('a/b').success).toBe(false);
  });
});

describe('batch activities on the pool', () => {
  let splits = 0;
  const handler = defineBatchHandler(numbers, {
    *split(input) {
      splits += 1;
      for (let i = 0; i < input.n; i++) yield { i };
    },
    shard: async (d) => d.i,
    reduce: (acc, results: unknown[]) => (acc ?? 0) + (results as number[]).reduce((a, b) => a + b, 0),
  });
  const handlers = new Map<string, GroupHandler>([['calc.sum', handler]]);
  const req = { taskId: 'b1', type: 'calc.sum', input: { n: 25 }, lane: 'normal' as const, tenant: 'default', pageSize: 10 };

  test('split pages through a generator with a cursor, resuming the live iterator', async () => {
    splits = 0;
    const acts = createPoolActivities(catalog, 'calc', handlers);
    const env = new MockActivityEnvironment();
    const pages: SplitPage[] = [];
    let cursor = 0;
    for (;;) {
      const p = (await env.run(acts.splitBatch, { ...req, cursor })) as SplitPage;
      pages.push(p);
      cursor = p.cursor;
      if (p.done) break;
    }
    expect(pages.map((p) => p.shards.length)).toEqual([10, 10, 5]);
    expect(pages.flatMap((p) => p.shards)).toEqual(Array.from({ length: 25 }, (_, i) => ({ i })));
    expect(splits).toBe(1); // one process served every page: the generator ran once
  });

  test('another process (or a retry) starts the split over and skips what was taken', async () => {
    splits = 0;
    const p = (await new MockActivityEnvironment().run(createPoolActivities(catalog, 'calc', handlers).splitBatch, {
      ...req,
      cursor: 20,
    })) as SplitPage;
    expect(p).toEqual({ shards: [20, 21, 22, 23, 24].map((i) => ({ i })), cursor: 25, done: true });
    expect(splits).toBe(1);
  });

  test('a descriptor that fails shardInput fails the split for good', async () => {
    const bad = new Map<string, GroupHandler>([['calc.sum', { ...handler, split: () => [{ i: 1 }, { i: 'x' }] }]]);
    await expect(
      new MockActivityEnvironment().run(createPoolActivities(catalog, 'calc', bad).splitBatch, { ...req, cursor: 0 }),
    ).rejects.toThrow(/shard 1 that does not match shardInput/);
  });

  test('reduce folds a page into the output so far', async () => {
    const acts = createPoolActivities(catalog, 'calc', handlers);
    const env = new MockActivityEnvironment();
    const base = { taskId: 'b1', type: 'calc.sum', lane: 'normal' as const, tenant: 'default' };
    const first = await env.run(acts.reduceBatch, { ...base, hasAcc: false, results: [1, 2] });
    expect(first).toBe(3);
    expect(await env.run(acts.reduceBatch, { ...base, hasAcc: true, acc: first, results: [4] })).toBe(7);
  });

  test('a shard runs its batch type’s shard code', async () => {
    const acts = createPoolActivities(catalog, 'calc', handlers);
    expect(
      await new MockActivityEnvironment().run(acts.executeTask, {
        taskId: 'b1/shard-0',
        type: 'calc.sum#shard',
        input: { i: 9 },
        lane: 'normal' as const,
        tenant: 'default',
      }),
    ).toBe(9);
  });
});

describe('the demo.yield arithmetic and progress line', () => {
  test('accounts are deterministic per seed; shard totals add up to the whole', () => {
    expect(syntheticAccount(1, 5)).toEqual(syntheticAccount(1, 5));
    expect(syntheticAccount(1, 5)).not.toEqual(syntheticAccount(2, 5));
    const parts = [yieldOf(3, 0, 40), yieldOf(3, 40, 100)].reduce(addTotals, ZERO_TOTALS);
    expect({ ...parts, shards: 1 }).toEqual(yieldOf(3, 0, 100));
  });

  test('tideway get shows a batch as a progress bar', () => {
    expect(batchProgressLine({ total: 100, splitDone: true, done: 38, failed: 2, running: 8 }, 10)).toBe(
      '[####......]  40% 40/100  done 38  failed 2  running 8',
    );
    expect(batchProgressLine({ total: 50, splitDone: false, done: 0, failed: 0, running: 5 }, 10)).toMatch(/still splitting/);
    const redriven = { total: 20, splitDone: true, done: 19, failed: 1, running: 0, redrive: { round: 2, shards: 2, done: 1, failed: 1 } };
    expect(batchProgressLine(redriven, 10)).toBe(
      '[##########] 100% 20/20  done 19  failed 1  running 0  redrive 2: 1 of 2 shards done, 1 failed again',
    );
  });
});
