import type { Context as ActivityContext } from '@temporalio/activity';
import { CancelledFailure, ApplicationFailure, type DataConverter } from '@temporalio/common';
import { Worker, type ActivityInboundCallsInterceptor, type NativeConnection, type WorkerTuner } from '@temporalio/worker';
import type { FailureDetail } from '../activities/classify';
import { createPoolActivities, type ExecuteRequest } from '../activities/execute';
import type { TaskLogSink } from '../activities/task-log';
import type { Catalog, PoolSpec } from '../config/catalog-schema';
import type { Logger } from '../config/log';
import type { GroupHandler } from '../config/task';
import { AimdController, type AimdDecision, type AttemptOutcome } from './aimd';
import { PoolMetrics } from './pool-metrics';
import { AdaptiveSlotSupplier } from './slots';
import type { Tracing } from '../temporal/tracing';

export interface PoolWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  catalog: Catalog;
  /** This group's handlers (Project.handlersFor): the pool serves exactly these task types. */
  handlers: ReadonlyMap<string, GroupHandler>;
  pool: PoolSpec;
  /** Payload codecs (`dataConverterOf(settings)`: encryption). @default none, payloads in the clear */
  dataConverter?: DataConverter;
  /** Overrides the pool's `shutdownGrace` (ms). */
  shutdownGraceMs?: number;
  /** Overrides the pool's `aimd.enabled` (benchmarks compare both in one process). */
  aimd?: boolean;
  log?: Logger;
  /** Where handlers' `ctx.log` lines go. @default `log` only (no per-task store) */
  taskLogs?: TaskLogSink;
  /** Injected clock for the AIMD controller. @default Date.now */
  now?: () => number;
  /** Run each attempt inside the trace its workflow passed on (the process's `installTracing`). @default off */
  tracing?: Tracing | undefined;
}

/** A pool worker with its slot supplier, AIMD controller and metrics. */
export interface Pool {
  readonly worker: Worker;
  readonly spec: PoolSpec;
  readonly taskQueue: string;
  readonly slots: AdaptiveSlotSupplier;
  /** Undefined when AIMD is off for this pool: the limit then stays at `concurrency`. */
  readonly aimd: AimdController | undefined;
  readonly metrics: PoolMetrics;
  readonly shutdownGraceMs: number;
  /** Runs the worker until it is shut down (SIGTERM, or `drain()`), then stops the AIMD clock. */
  run(): Promise<void>;
  /** Stops polling; in-flight attempts get the grace period, then fail as `WorkerShutdown` and retry elsewhere. */
  drain(): void;
  readonly draining: boolean;
  inFlight(): number;
  /** Every AIMD decision that changed the limit, newest last (bounded), for logs and tests. */
  onDecision(fn: (d: AimdDecision) => void): void;
}

/** Tells apart how an attempt ended from the error `executeTask` threw. */
export function outcomeOf(err: unknown): AttemptOutcome {
  if (err instanceof CancelledFailure || (err instanceof Error && err.name === 'AbortError')) return 'cancelled';
  if (err instanceof ApplicationFailure) {
    const detail = err.details?.[0] as Partial<FailureDetail> | undefined;
    if (detail?.class === 'throttled') return 'throttled';
  }
  return 'failed';
}

/**
 * A pool worker: serves exactly one `tideway[.<app>].<group>.<lane>` queue with that group's handlers only.
 * Its activity slots come from an adaptive supplier whose limit AIMD lowers when handlers report
 * throttling, so the worker polls for no more tasks than it may start.
 */
export async function createPool(opts: PoolWorkerOptions): Promise<Pool> {
  const { pool } = opts;
  const now = opts.now ?? Date.now;
  const taskQueue = pool.taskQueue;
  const slots = new AdaptiveSlotSupplier(pool.concurrency);
  const aimdOn = opts.aimd ?? pool.aimd.enabled;
  const aimd = aimdOn
    ? new AimdController(
        {
          maxLimit: pool.concurrency,
          minLimit: pool.aimd.minConcurrency,
          windowMs: pool.aimd.window,
          minThrottled: pool.aimd.minThrottled,
          throttledRatio: pool.aimd.throttledRatio,
          increaseIntervalMs: pool.aimd.increaseInterval,
        },
        now(),
      )
    : undefined;
  let inFlight = 0;
  let draining = false;
  const listeners: ((d: AimdDecision) => void)[] = [];
  const metrics = new PoolMetrics({
    group: pool.group,
    lane: pool.lane,
    taskQueue,
    concurrency: pool.concurrency,
    slots: () => slots.snapshot(),
    inFlight: () => inFlight,
    draining: () => draining,
  });

  const apply = (d: AimdDecision): void => {
    if (d.kind === 'hold') return;
    slots.setLimit(d.limit);
    metrics.aimdChange(d.kind);
    opts.log?.info({ event: `pool:aimd-${d.kind}`, ...d, taskQueue }, `concurrency ${d.from} -> ${d.limit}`);
    for (const l of listeners) l(d);
  };

  const observe = (ctx: ActivityContext): ActivityInboundCallsInterceptor => ({
    async execute(input, next) {
      const startedAt = now();
      const req = input.args[0] as Partial<ExecuteRequest> | undefined;
      const taskType = typeof req?.type === 'string' ? req.type : 'unknown';
      metrics.queueWait(taskType, Date.now() - ctx.info.currentAttemptScheduledTimestampMs);
      inFlight++;
      let outcome: AttemptOutcome = 'ok';
      try {
        return await next(input);
      } catch (err) {
        outcome = outcomeOf(err);
        throw err;
      } finally {
        inFlight--;
        const at = now();
        metrics.attempt(taskType, outcome, at - startedAt);
        if (aimd) apply(aimd.record(outcome, startedAt, at));
      }
    },
  });

  const shutdownGraceMs = opts.shutdownGraceMs ?? pool.shutdownGrace;
  const tuner: WorkerTuner = {
    activityTaskSlotSupplier: slots,
    // A pool worker runs no workflows, local activities or Nexus tasks, but the tuner needs all four.
    workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
  };
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue,
    dataConverter: opts.dataConverter ?? {},
    activities: createPoolActivities(opts.catalog, pool.group, opts.handlers, opts.taskLogs ?? { pino: opts.log }),
    tuner,
    // Tracing first, so the attempt (and the handler's downstream calls) runs inside its span.
    interceptors: { activity: [...(opts.tracing ? [opts.tracing.activityInterceptor()] : []), (ctx) => ({ inbound: observe(ctx) })] },
    ...(pool.rateLimit !== undefined ? { maxTaskQueueActivitiesPerSecond: pool.rateLimit } : {}),
    shutdownGraceTime: shutdownGraceMs,
  });

  return {
    worker,
    spec: pool,
    taskQueue,
    slots,
    aimd,
    metrics,
    shutdownGraceMs,
    get draining() {
      return draining;
    },
    inFlight: () => inFlight,
    onDecision: (fn) => listeners.push(fn),
    drain() {
      if (draining) return;
      draining = true;
      opts.log?.info({ event: 'pool:draining', inFlight, graceMs: shutdownGraceMs, taskQueue }, 'draining');
      if (worker.getState() === 'RUNNING') worker.shutdown();
    },
    async run() {
      // Additive increase needs a clock; a quarter interval keeps the step close to the interval.
      const timer = aimd ? setInterval(() => apply(aimd.tick(now())), Math.max(50, Math.floor(pool.aimd.increaseInterval / 4))) : undefined;
      try {
        await worker.run();
      } finally {
        draining = true;
        if (timer) clearInterval(timer);
      }
    },
  };
}
