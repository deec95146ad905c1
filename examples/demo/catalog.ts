import { defineBatchTask, defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

const yieldTotals = z.object({ accounts: z.number(), shards: z.number(), balanceCents: z.number(), yieldCents: z.number() }).strict();
const yieldInput = z
  .object({
    accounts: z.number().int().min(0).max(100_000_000),
    seed: z.number().int(),
    perShard: z.number().int().min(1).max(100_000).default(50),
    /** Milliseconds each shard takes at least (to watch progress and the parallel cap). */
    shardMs: z.number().int().min(0).max(60_000).default(0),
    /**
     * Shards whose first attempt fails for good (non-retryable), to show `onShardFailure`; the
     * attempt a redrive makes succeeds (a shard started afresh, after a discard, fails again).
     */
    failShards: z.array(z.number().int().min(0)).max(100).default([]),
  })
  .strict();
const yieldShard = z
  .object({
    shard: z.number().int(),
    seed: z.number().int(),
    from: z.number().int(),
    to: z.number().int(),
    ms: z.number().int(),
    fail: z.boolean(),
  })
  .strict();

// A batch: split a synthetic book of accounts into shards, run each shard as a task on the demo
// pool, and reduce their totals (handlers.ts holds split/shard/reduce).
export const nightlyYield = defineBatchTask({
  name: 'demo.yield',
  group: 'demo',
  lane: 'low',
  description:
    'Daily yield of {accounts} synthetic accounts (from {seed}), {perShard} accounts per shard; ' +
    'the shards in {failShards} fail their first attempt for good (a redrive of the batch completes them).',
  input: yieldInput,
  shardInput: yieldShard,
  shardOutput: yieldTotals,
  output: yieldTotals,
  maxParallel: 8,
  onShardFailure: 'continue',
  // Small pages and runs, so even a small demo batch pages its split and continues as new.
  pageSize: 50,
  shardsPerRun: 100,
  retry: { maxAttempts: 3, retryable: { initial: '200ms', backoff: 2, max: '2s' } },
  // A short heartbeat timeout: heartbeats reach the server (and a cancel the shard) within about a second.
  timeouts: { startToClose: '1m', heartbeat: '1s' },
  // The nightly run: a Temporal Schedule that starts the batch at 01:00 UTC. `expectedTasks` (its
  // shards) is what the scaler assumes until a run completed; then it learns the size from the runs.
  schedules: [
    {
      id: 'demo.nightly-yield',
      cron: '0 1 * * *',
      timezone: 'UTC',
      input: { accounts: 10_000, seed: 20_261_201, perShard: 100 },
      expectedTasks: 100,
    },
  ],
});

/**
 * The demo's task catalog: every task type, its schema, lane, retry policy and timeouts, plus pool
 * settings. No handler code here: `handlers.ts` holds the demo group's handlers, and only the demo
 * pools load it (tideway.config.ts). A bad entry fails every process at start naming the field.
 */
export const tasks = [
  defineTask({
    name: 'demo.echo',
    group: 'demo',
    description: 'Returns its input.',
    input: z.unknown(),
    timeouts: { startToClose: '30s' },
    // A nightly cron task: a Temporal Schedule (Web UI → Schedules) the scaler also forecasts.
    schedules: [{ id: 'demo.nightly-echo', cron: '0 2 * * *', timezone: 'UTC', input: { nightly: true }, lane: 'low', expectedTasks: 1 }],
    output: z.unknown(),
  }),
  defineTask({
    name: 'demo.sleep',
    group: 'demo',
    description: 'Sleeps {ms} milliseconds, heartbeating as it goes.',
    input: z
      .object({
        ms: z.number().int().min(0).max(3_600_000),
        /** Attempts up to this one hang without heartbeats (the fault suite's hung handler). */
        hangAttempts: z.number().int().min(0).max(10).optional(),
      })
      .strict(),
    timeouts: { startToClose: '2h', heartbeat: '3s' },
    output: z.object({ sleptMs: z.number() }),
  }),
  defineTask({
    name: 'demo.fail',
    group: 'demo',
    description: 'Fails {times} attempts with {errorClass}, then succeeds.',
    input: z
      .object({
        errorClass: z.enum(['retryable', 'throttled', 'non_retryable']),
        times: z.number().int().min(0).max(100),
        retryAfterMs: z.number().int().min(0).optional(),
      })
      .strict(),
    retry: {
      maxAttempts: 5,
      retryable: { initial: '200ms', backoff: 2, max: '2s' },
      throttled: { initial: '500ms', backoff: 2, max: '5s' },
    },
    timeouts: { startToClose: '30s' },
    output: z.object({ attempts: z.number() }),
  }),
  defineTask({
    name: 'demo.http',
    group: 'demo',
    description: 'GETs {url}; 429/503 answers are throttled errors (drives adaptive concurrency).',
    input: z.object({ url: z.url() }).strict(),
    retry: {
      maxAttempts: 100,
      retryable: { initial: '200ms', backoff: 2, max: '2s' },
      throttled: { initial: '500ms', backoff: 2, max: '4s', honorRetryAfter: true },
    },
    timeouts: { startToClose: '30s' },
    output: z.object({ status: z.number() }),
  }),
  defineTask({
    name: 'demo.flaky',
    group: 'demo',
    description: 'Like demo.fail, with 2 attempts and dead letters kept only 3s (shows retention).',
    input: z.object({ errorClass: z.enum(['retryable', 'throttled', 'non_retryable']), times: z.number().int().min(0).max(100) }).strict(),
    retry: { maxAttempts: 2, retryable: { initial: '100ms', backoff: 1, max: '100ms' } },
    deadLetterRetention: '3s',
    timeouts: { startToClose: '30s' },
    output: z.object({ attempts: z.number() }),
  }),
  defineTask({
    name: 'demo.report',
    group: 'demo',
    description: 'Returns its input; moves up one lane if it waits more than 2s (aging).',
    input: z.unknown(),
    promoteAfter: '2s',
    timeouts: { startToClose: '30s' },
    output: z.unknown(),
  }),
  nightlyYield,
  defineBatchTask({
    name: 'demo.yield-strict',
    group: 'demo',
    description: 'demo.yield whose first failing shard fails the batch (fail_fast).',
    input: yieldInput,
    shardInput: yieldShard,
    shardOutput: yieldTotals,
    output: yieldTotals,
    maxParallel: 4,
    onShardFailure: 'fail_fast',
    retry: { maxAttempts: 2, retryable: { initial: '100ms', backoff: 1, max: '100ms' } },
    // A short heartbeat timeout: heartbeats reach the server (and a cancel the shard) within about a second.
    timeouts: { startToClose: '1m', heartbeat: '1s' },
  }),
] as const;

export const catalog = defineCatalog({
  tasks,
  pools: {
    demo: { all: { concurrency: 20, minReplicas: 1, maxReplicas: 4, startupSeconds: 3 } },
  },
});

export type Tasks = typeof tasks;
