import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  defineBatchHandler,
  defineHandlers,
  NonRetryableError,
  RetryableError,
  ThrottledError,
  throwForResponse,
  type TaskContext,
} from 'tideway';
import { catalog, nightlyYield as nightlyYieldTask } from './catalog';
import { addTotals, yieldOf, ZERO_TOTALS } from './yield';

/**
 * Handlers of the `demo` group, used by the quick start, the tests and the benchmarks. Only the
 * demo pools import this module (tideway.config.ts names it under `handlers.demo`).
 * When TIDEWAY_DEMO_LEDGER names a file, every handler run appends one JSON line to it: a record
 * kept outside Temporal, so tests can count how often a task really executed. When
 * TIDEWAY_DEMO_DONE_LEDGER names a file, every run that returns successfully appends one line there
 * too (the fault suite checks that no task succeeded twice).
 */
function record(ctx: TaskContext, type: string, extra: Record<string, unknown> = {}): void {
  const file = process.env.TIDEWAY_DEMO_LEDGER;
  if (!file) return;
  appendFileSync(
    file,
    `${JSON.stringify({ taskId: ctx.taskId, type, attempt: ctx.attempt, pid: process.pid, at: Date.now(), ...extra })}\n`,
  );
}

/** One line in the done ledger: this run of the handler returned successfully. */
function done(ctx: TaskContext, type: string): void {
  const file = process.env.TIDEWAY_DEMO_DONE_LEDGER;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ taskId: ctx.taskId, type, attempt: ctx.attempt, pid: process.pid, at: Date.now() })}\n`);
}

async function echo<T>(input: T, ctx: TaskContext): Promise<T> {
  record(ctx, 'demo.echo');
  done(ctx, 'demo.echo');
  return input;
}

/** Sleeps `ms` in short steps, heartbeating so a lost worker is noticed and cancel is delivered. */
async function sleepFor(input: { ms: number; hangAttempts?: number | undefined }, ctx: TaskContext): Promise<{ sleptMs: number }> {
  record(ctx, 'demo.sleep');
  if (input.hangAttempts !== undefined && ctx.attempt <= input.hangAttempts) {
    // A hung handler (fault suite): no heartbeat, no progress, until the run is cancelled, if ever.
    ctx.log.warn(`attempt ${ctx.attempt} hangs as asked`);
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true }));
  }
  ctx.log.info(`sleeping ${input.ms} ms`, { ms: input.ms });
  const started = Date.now();
  const step = Math.min(500, Math.max(10, input.ms));
  // Progress at most ten times a run and at most once a second: `tideway logs <id> --follow` shows it.
  const every = Math.max(1_000, input.ms / 10);
  let reported = 0;
  while (Date.now() - started < input.ms) {
    const slept = Date.now() - started;
    ctx.heartbeat({ sleptMs: slept });
    if (slept - reported >= every) {
      reported = slept;
      ctx.log.info(`slept ${slept} of ${input.ms} ms`, { sleptMs: slept });
    }
    await sleep(Math.min(step, input.ms - slept), undefined, { signal: ctx.signal });
  }
  const sleptMs = Date.now() - started;
  ctx.log.info(`done after ${sleptMs} ms`, { sleptMs });
  done(ctx, 'demo.sleep');
  return { sleptMs };
}

export interface FailInput {
  errorClass: 'retryable' | 'throttled' | 'non_retryable';
  times: number;
  retryAfterMs?: number | undefined;
}

/** Fails the first `times` attempts with the given class, then succeeds. */
async function failTimes(input: FailInput, ctx: TaskContext): Promise<{ attempts: number }> {
  record(ctx, 'demo.fail');
  if (ctx.attempt <= input.times) {
    const msg = `demo.fail: attempt ${ctx.attempt} of ${input.times} planned failures`;
    ctx.log.warn(`attempt ${ctx.attempt} fails as planned (${input.errorClass})`, { times: input.times });
    if (input.errorClass === 'non_retryable') throw new NonRetryableError(msg);
    if (input.errorClass === 'throttled') {
      throw new ThrottledError(msg, input.retryAfterMs === undefined ? {} : { retryAfter: input.retryAfterMs });
    }
    throw new RetryableError(msg);
  }
  ctx.log.info(`attempt ${ctx.attempt} succeeds`);
  done(ctx, 'demo.fail');
  return { attempts: ctx.attempt };
}

/**
 * GETs `url` once: a 429/503 answer becomes a ThrottledError (with Retry-After), so it drives the
 * pool's adaptive concurrency; the AIMD test and bench point it at a local rate-limited server.
 * The request carries the task's tag (x-tideway-task, x-tideway-tag, traceparent when tracing).
 */
async function httpGet(input: { url: string }, ctx: TaskContext): Promise<{ status: number }> {
  record(ctx, 'demo.http');
  const res = throwForResponse(await fetch(input.url, { signal: ctx.signal, headers: ctx.tag.headers() }));
  // Drain the body so the connection is reused rather than left half-read.
  await res.arrayBuffer();
  done(ctx, 'demo.http');
  return { status: res.status };
}

/**
 * The `demo.yield` batch: split the book into shards of `perShard` accounts (a generator, so a
 * huge book is never one array), compute each shard's totals, add them up page by page.
 */
const nightlyYield = defineBatchHandler(nightlyYieldTask, {
  *split(input) {
    const fail = new Set(input.failShards);
    for (let shard = 0, from = 0; from < input.accounts; shard++, from += input.perShard) {
      yield {
        shard,
        seed: input.seed,
        from,
        to: Math.min(input.accounts, from + input.perShard),
        ms: input.shardMs,
        fail: fail.has(shard),
      };
    }
  },
  async shard(desc, ctx) {
    // Start and end of every run: the tests check the parallel cap from these.
    record(ctx, 'demo.yield#shard', { phase: 'start' });
    // Heartbeats while it waits: that is how a cancel (fail_fast, a cancelled batch) reaches it.
    for (let left = desc.ms; left > 0; left -= 100) {
      ctx.heartbeat();
      await sleep(Math.min(100, left), undefined, { signal: ctx.signal });
    }
    // Its first attempt only: the attempt a redrive makes (attempt 2 on) succeeds, so a redrive of the batch completes it.
    if (desc.fail && ctx.attempt === 1) throw new NonRetryableError(`demo.yield: shard ${desc.shard} fails its first attempt as asked`);
    const totals = yieldOf(desc.seed, desc.from, desc.to);
    record(ctx, 'demo.yield#shard', { phase: 'end' });
    return totals;
  },
  reduce(acc, results) {
    return results.reduce(addTotals, acc ?? ZERO_TOTALS);
  },
});

export default defineHandlers(catalog, {
  'demo.yield': nightlyYield,
  'demo.yield-strict': nightlyYield,
  'demo.echo': echo,
  'demo.sleep': sleepFor,
  'demo.fail': failTimes,
  'demo.http': httpGet,
  'demo.flaky': failTimes,
  'demo.report': echo,
});
