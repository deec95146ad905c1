import { defineBatchTask, defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

/**
 * The project `npm run bench:batch` runs: one batch type and one plain task type that do the same
 * work per item (sleep `ms`, return the item's number), in the same group, lane and pool, so the
 * batch's fan-out and the bulk intake's starts are the only difference between the two paths.
 */
const item = z.object({ n: z.number().int().min(0), ms: z.number().int().min(0).max(60_000) }).strict();
const itemOut = z.object({ n: z.number().int() }).strict();

export const fanout = defineBatchTask({
  name: 'bench.fanout',
  group: 'bench',
  description: '{shards} shards of {ms} ms each, reduced to a count and a checksum.',
  input: z.object({ shards: z.number().int().min(1).max(1_000_000), ms: z.number().int().min(0).max(60_000) }).strict(),
  shardInput: item,
  shardOutput: itemOut,
  output: z.object({ count: z.number().int(), sum: z.number() }).strict(),
  maxParallel: 200,
  onShardFailure: 'continue',
  timeouts: { startToClose: '1m' },
});

export const tasks = [
  fanout,
  defineTask({
    name: 'bench.item',
    group: 'bench',
    description: 'One item of bench.fanout as an independent task: sleeps {ms} ms, returns {n}.',
    input: item,
    output: itemOut,
    timeouts: { startToClose: '1m' },
  }),
] as const;

export const catalog = defineCatalog({
  tasks,
  // One pool replica with room for the batch's maxParallel (200), for both paths.
  pools: { bench: { all: { concurrency: 200, minReplicas: 1, maxReplicas: 1, startupSeconds: 3 } } },
});

export type Tasks = typeof tasks;
