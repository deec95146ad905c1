import { Context } from '@temporalio/activity';
import { ApplicationFailure, type SignalDefinition } from '@temporalio/common';
import type { Catalog } from '../config/catalog-schema';
import { MAX_INPUT_BYTES, resolveEnvelope, type EarlierSuccess, type ResolvedTask } from '../config/envelope';
import { attemptFailedSignal, attemptStartedSignal } from '../config/messages';
import { SA_KEYS } from '../config/search-attributes';
import type { Lane } from '../config/names';
import { batchTypeOfShard, isBatchHandler, type AnyBatchHandler, type GroupHandler, type TaskContext } from '../config/task';
import { toFailure, type FailureDetail } from './classify';
import { NonRetryableError } from './errors';
import { attemptLogger, type TaskLogSink } from './task-log';
import { taskTag } from './tag';
import { askLimiter, createFlowActivities, releaseAtLimiter } from './flow';
import { PermitLeases } from './flow-lease';
import { heartbeatWhile } from './heartbeat';
import { SEQ_PER_SCHEDULE, type AttemptPermit, type PermitAttemptResult } from '../config/flow';

/** What `runTask` passes to `executeTask` on the pool's queue. */
export interface ExecuteRequest {
  taskId: string;
  type: string;
  input: unknown;
  lane: Lane;
  tenant: string;
  /** Attempts already made by earlier activity schedules of this task (pause/resume, redrive). */
  attemptOffset?: number;
  /** The caller's tag (submit option `tag`). */
  tag?: string;
  /** A concurrency key's permit to take for the attempt (the result is then a `PermitAttemptResult`). */
  permit?: AttemptPermit;
}

/** An attempt still running after this long is reported to the workflow as `running`. */
export const STARTED_SIGNAL_DELAY_MS = 500;

/** Signals are progress reports: a lost one must never fail the attempt itself. */
function notify<A>(ctx: Context, signal: SignalDefinition<[A]>, payload: NoInfer<A>): Promise<void> {
  const wf = ctx.info.workflowExecution;
  if (!wf) return Promise.resolve();
  return ctx.client.workflow
    .getHandle(wf.workflowId, wf.runId)
    .signal(signal, payload)
    .catch((err: unknown) => ctx.log.warn('could not report attempt progress', { signal: signal.name, err: String(err) }));
}

/**
 * The activity a pool worker hosts: runs the handler for the task's type. Only types of `group` are
 * served (`handlers` holds that group's, see config/load.ts), so a pool never runs another group's code.
 */
export function createPoolActivities(
  catalog: Catalog,
  group: string,
  handlers: ReadonlyMap<string, GroupHandler>,
  taskLogs: TaskLogSink = {},
) {
  const batches = createBatchActivities(catalog, group, handlers, taskLogs);
  const leases = new PermitLeases(catalog.app);
  return {
    ...batches,
    async executeTask(req: ExecuteRequest): Promise<unknown> {
      const ctx = Context.current();
      // A shard runs its batch type's `shard` code under the batch type's retry policy.
      const batchType = batchTypeOfShard(req.type);
      const task = catalog.get(batchType ?? req.type);
      const entry = handlers.get(batchType ?? req.type);
      const handler = batchType
        ? task?.batch && isBatchHandler(entry)
          ? (entry.shard as (input: unknown, ctx: TaskContext) => Promise<unknown>)
          : undefined
        : task?.batch || isBatchHandler(entry)
          ? undefined
          : (entry as ((input: unknown, ctx: TaskContext) => Promise<unknown>) | undefined);
      if (!task || task.group !== group || !handler) {
        throw ApplicationFailure.create({
          type: 'UnknownTaskTypeError',
          nonRetryable: true,
          message: `pool for group ${group} has no handler for ${req.type}`,
        });
      }
      if (req.permit)
        return runWithPermit(ctx, catalog.app, leases, req.permit, req.taskId, () => runHandler(ctx, req, task, handler, batchType));
      return runHandler(ctx, req, task, handler, batchType);
    },
  };

  /** One attempt of the handler: reports it running and failed, checks its result. */
  async function runHandler(
    ctx: Context,
    req: ExecuteRequest,
    task: NonNullable<ReturnType<Catalog['get']>>,
    handler: (input: unknown, ctx: TaskContext) => Promise<unknown>,
    batchType: string | undefined,
  ): Promise<unknown> {
    // Attempts count across re-schedules (pause/resume, promotion, redrive), not per activity.
    const attempt = (req.attemptOffset ?? 0) + ctx.info.attempt;
    // Report `running` only for attempts that last: a handler done within the delay needs no extra
    // workflow task (status goes queued → succeeded), which keeps short tasks fast and cheap.
    const startedAt = Date.now();
    let started: Promise<void> = Promise.resolve();
    const startedTimer = setTimeout(() => {
      started = notify(ctx, attemptStartedSignal, { attempt, at: startedAt });
    }, STARTED_SIGNAL_DELAY_MS);
    const taskCtx: TaskContext = {
      taskId: req.taskId,
      attempt,
      lane: req.lane,
      tenant: req.tenant,
      signal: ctx.cancellationSignal,
      heartbeat: (d) => ctx.heartbeat(d),
      lastHeartbeat: ctx.info.heartbeatDetails,
      log: attemptLogger(taskLogs, { ...identityOf(req), runId: ctx.info.workflowExecution?.runId, attempt }),
      tag: taskTag(req.taskId, req.tag),
    };
    try {
      const result = await handler(req.input, taskCtx);
      clearTimeout(startedTimer);
      const schema = batchType ? (task.def as { batch?: { shardOutput?: ZodLike } }).batch?.shardOutput : task.def.output;
      const checked = schema?.safeParse(result);
      if (batchType) {
        const size = Buffer.byteLength(JSON.stringify(result ?? null));
        if (size > SHARD_RESULT_MAX_BYTES) {
          throw new NonRetryableError(`${req.type} returned ${size} bytes; a shard's result may be at most ${SHARD_RESULT_MAX_BYTES}`);
        }
      }
      if (checked && !checked.success) {
        // The handler's code is wrong, not the moment: another attempt would return the same.
        throw new NonRetryableError(
          `${req.type} returned a result that does not match its output schema: ${issuesText(checked.error?.issues ?? [])}`,
        );
      }
      await started;
      return result;
    } catch (err) {
      clearTimeout(startedTimer);
      // Cancellation (or shutdown) aborted the handler: let the SDK report it as cancelled.
      if (ctx.cancellationSignal.aborted) {
        // A drain cut the attempt off: the SDK fails it as WorkerShutdown and Temporal retries it on
        // another replica; tell the workflow too, so `lastError` says why the attempt ended.
        if (ctx.cancellationDetails?.workerShutdown) {
          await started;
          await notify(ctx, attemptFailedSignal, {
            attempt,
            at: Date.now(),
            error: { type: 'WorkerShutdown', class: 'retryable', message: 'the pool worker shut down before the attempt finished' },
          });
        }
        throw err;
      }
      const failure = toFailure(task, err, attempt);
      const cls = (failure.details?.[0] as FailureDetail).class; // classified once, in toFailure
      await started;
      await notify(ctx, attemptFailedSignal, {
        attempt,
        at: Date.now(),
        error: { type: failure.type ?? 'Error', class: cls, message: failure.message },
      });
      throw failure;
    }
  }
}

/**
 * Takes the attempt's concurrency permit in this process (an update to the key's limiter, answered
 * in the call), runs the attempt, and gives the permit back by signal: no workflow task of the
 * task's own. A full key leaves the request queued at the limiter and returns without running; the
 * workflow waits for the grant and schedules again with the permit held. A process that dies
 * holding a permit loses it to the next attempt (a higher seq of the same task replaces it), or to
 * the workflow's release when no attempt follows.
 */
async function runWithPermit(
  ctx: Context,
  app: string | undefined,
  leases: PermitLeases,
  p: AttemptPermit,
  holder: string,
  run: () => Promise<unknown>,
): Promise<PermitAttemptResult> {
  if ((p.heldSeq === undefined || ctx.info.attempt > 1) && leases.take(ctx.client, p, ctx.info.heartbeatTimeoutMs)) {
    // A permit of this process's lease on the key: no round trip at all. A retry's earlier attempt
    // may have held a permit of its own (its process died with it): the workflow sends that back.
    try {
      return { permit: 'ran', result: await run(), released: ctx.info.attempt === 1 };
    } finally {
      leases.give(p.limiterId);
    }
  }
  let seq: number;
  if (p.heldSeq !== undefined && ctx.info.attempt === 1) seq = p.heldSeq;
  else {
    seq = p.schedule * SEQ_PER_SCHEDULE + ctx.info.attempt;
    const ask = {
      limiterId: p.limiterId,
      kind: 'concurrency' as const,
      type: p.type,
      key: p.key,
      request: { holder, seq, priority: p.priority, limit: p.limit },
    };
    // The limiter's answer may take up to its update deadline (seconds, on a busy server), longer
    // than a short heartbeat timeout.
    const timeout = ctx.info.heartbeatTimeoutMs;
    const asking = () => askLimiter(ctx.client, app, ask, ctx.log);
    const reply = timeout ? await heartbeatWhile(ctx, Math.max(200, Math.floor(timeout / 3)), asking) : await asking();
    if (reply?.outcome !== 'granted') return { permit: 'queued', seq, attempt: ctx.info.attempt, ...(reply ? { reply } : {}) };
  }
  const release = async (): Promise<boolean> => {
    try {
      await releaseAtLimiter(ctx.client, { limiterId: p.limiterId, holder, seq });
      return true;
    } catch (err) {
      // The workflow releases it instead (it does whenever an attempt did not say it released).
      ctx.log.warn('permit release not sent; the workflow will send it', { limiterId: p.limiterId, error: String(err) });
      return false;
    }
  };
  let result: unknown;
  try {
    result = await run();
  } catch (err) {
    await release(); // before the next attempt asks again (or the key's next task gets the permit)
    throw err;
  }
  return { permit: 'ran', result, released: await release() };
}

/** The fields of a request that name a task in its log lines. */
function identityOf(req: { taskId: string; type: string; lane: Lane; tenant: string }) {
  return { taskId: req.taskId, type: req.type, lane: req.lane, tenant: req.tenant };
}

/** A shard's result in bytes at most: every result passes through the batch's history once. */
export const SHARD_RESULT_MAX_BYTES = 8 * 1024;
/** A batch's reduced output in bytes at most: it is carried from run to run of the parent. */
export const BATCH_OUTPUT_MAX_BYTES = 256 * 1024;
/** Encoded descriptors of one split page at most. */
export const SPLIT_PAGE_MAX_BYTES = 1024 * 1024;

interface ZodLike {
  safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } };
}

/** What `runBatch` passes to `splitBatch`: the next page from `cursor` (descriptors already taken). */
export interface SplitRequest {
  taskId: string;
  type: string;
  input: unknown;
  lane: Lane;
  tenant: string;
  cursor: number;
  pageSize: number;
}
export interface SplitPage {
  shards: unknown[];
  cursor: number;
  done: boolean;
}
/** What `runBatch` passes to `reduceBatch`: the output so far and the next page of results. */
export interface ReduceRequest {
  taskId: string;
  type: string;
  lane: Lane;
  tenant: string;
  /** False before the first page (`acc` is then undefined). */
  hasAcc: boolean;
  acc?: unknown;
  results: unknown[];
}

/** A live split iterator a pool process keeps between pages, so a page resumes it instead of starting over. */
interface OpenSplit {
  next: number;
  it: Iterator<unknown> | AsyncIterator<unknown>;
}
const OPEN_SPLITS_KEPT = 32;

function issuesText(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * The batch activities a pool hosts beside `executeTask`: a batch type's split (one page per call)
 * and its reduce (one page of results per call), run with its group's code on its lane's pool.
 */
function createBatchActivities(catalog: Catalog, group: string, handlers: ReadonlyMap<string, GroupHandler>, taskLogs: TaskLogSink) {
  const open = new Map<string, OpenSplit>();
  const batchOf = (type: string): { handler: AnyBatchHandler; shardInput?: ZodLike; output?: ZodLike } => {
    const task = catalog.get(type);
    const handler = handlers.get(type);
    if (!task?.batch || task.group !== group || !isBatchHandler(handler)) {
      throw ApplicationFailure.create({
        type: 'UnknownTaskTypeError',
        nonRetryable: true,
        message: `pool for group ${group} has no batch handler for ${type}`,
      });
    }
    const spec = (task.def as { batch?: { shardInput?: ZodLike; output?: ZodLike } }).batch ?? {};
    return { handler, ...(spec.shardInput ? { shardInput: spec.shardInput } : {}), ...(spec.output ? { output: spec.output } : {}) };
  };
  const contextOf = (ctx: Context, req: { taskId: string; type: string; lane: Lane; tenant: string }): TaskContext => ({
    taskId: req.taskId,
    attempt: ctx.info.attempt,
    lane: req.lane,
    tenant: req.tenant,
    signal: ctx.cancellationSignal,
    heartbeat: (d) => ctx.heartbeat(d),
    lastHeartbeat: ctx.info.heartbeatDetails,
    log: attemptLogger(taskLogs, { ...identityOf(req), runId: ctx.info.workflowExecution?.runId, attempt: ctx.info.attempt }),
    tag: taskTag(req.taskId),
  });
  const userError = (what: string, err: unknown): never => {
    if (err instanceof ApplicationFailure) throw err;
    const type = (err as { type?: unknown }).type;
    throw ApplicationFailure.create({
      type: typeof type === 'string' ? type : 'BatchError',
      message: `${what}: ${(err as Error)?.message ?? String(err)}`,
      nonRetryable: type === 'NonRetryableError',
    });
  };
  return {
    /** One page of a batch's shard descriptors, from `cursor` on. */
    async splitBatch(req: SplitRequest): Promise<SplitPage> {
      const ctx = Context.current();
      const { handler, shardInput } = batchOf(req.type);
      const key = `${ctx.info.workflowExecution?.runId ?? ''}:${req.taskId}`;
      let split = open.get(key);
      open.delete(key);
      if (!split || split.next !== req.cursor) {
        // First page, or another process served the last one: start over and skip what was taken.
        let source: unknown;
        try {
          source = await handler.split(req.input, contextOf(ctx, req));
        } catch (err) {
          userError(`${req.type} split failed`, err);
        }
        const s = source as Iterable<unknown> | AsyncIterable<unknown>;
        const it =
          typeof (s as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
            ? (s as AsyncIterable<unknown>)[Symbol.asyncIterator]()
            : typeof (s as Iterable<unknown>)[Symbol.iterator] === 'function'
              ? (s as Iterable<unknown>)[Symbol.iterator]()
              : undefined;
        if (!it)
          throw ApplicationFailure.create({
            type: 'BatchError',
            nonRetryable: true,
            message: `${req.type} split returned no array or iterable`,
          });
        split = { next: 0, it };
        if (Array.isArray(source)) {
          // Arrays need no iteration to skip.
          const arr = source as unknown[];
          split = { next: req.cursor, it: arr.slice(req.cursor)[Symbol.iterator]() };
        }
        while (split.next < req.cursor) {
          const r = await split.it.next();
          if (r.done) break;
          split.next++;
          if (split.next % 1000 === 0) ctx.heartbeat({ skipping: split.next });
        }
      }
      const shards: unknown[] = [];
      let bytes = 0;
      let done = false;
      while (shards.length < req.pageSize) {
        let r: IteratorResult<unknown>;
        try {
          r = await split.it.next();
        } catch (err) {
          return userError(`${req.type} split failed`, err);
        }
        if (r.done) {
          done = true;
          break;
        }
        let desc = r.value;
        if (shardInput) {
          const checked = shardInput.safeParse(desc) as {
            success: boolean;
            data?: unknown;
            error?: { issues: { path: PropertyKey[]; message: string }[] };
          };
          if (!checked.success) {
            throw ApplicationFailure.create({
              type: 'ValidationError',
              nonRetryable: true,
              message: `${req.type} split produced shard ${split.next} that does not match shardInput: ${issuesText(checked.error?.issues ?? [])}`,
            });
          }
          desc = checked.data;
        }
        const size = Buffer.byteLength(JSON.stringify(desc ?? null));
        if (size > MAX_INPUT_BYTES) {
          throw ApplicationFailure.create({
            type: 'ValidationError',
            nonRetryable: true,
            message: `${req.type} split produced shard ${split.next} of ${size} bytes; a shard's input may be at most ${MAX_INPUT_BYTES}`,
          });
        }
        shards.push(desc);
        split.next++;
        bytes += size;
        if (bytes >= SPLIT_PAGE_MAX_BYTES) break;
      }
      if (!done) {
        open.set(key, split);
        while (open.size > OPEN_SPLITS_KEPT) open.delete(open.keys().next().value!);
      }
      return { shards, cursor: split.next, done };
    },

    /** Folds one page of shard results into the batch's output so far. */
    async reduceBatch(req: ReduceRequest): Promise<unknown> {
      const ctx = Context.current();
      const { handler, output } = batchOf(req.type);
      let acc: unknown;
      try {
        acc = await handler.reduce(req.hasAcc ? req.acc : undefined, req.results, contextOf(ctx, req));
      } catch (err) {
        return userError(`${req.type} reduce failed`, err);
      }
      const checked = output?.safeParse(acc);
      if (checked && !checked.success) {
        throw ApplicationFailure.create({
          type: 'NonRetryableError',
          nonRetryable: true,
          message: `${req.type} reduce returned a result that does not match its output schema: ${issuesText(checked.error?.issues ?? [])}`,
        });
      }
      const size = Buffer.byteLength(JSON.stringify(acc ?? null));
      if (size > BATCH_OUTPUT_MAX_BYTES) {
        throw ApplicationFailure.create({
          type: 'NonRetryableError',
          nonRetryable: true,
          message: `${req.type} reduce returned ${size} bytes; a batch's output may be at most ${BATCH_OUTPUT_MAX_BYTES}`,
        });
      }
      return acc ?? null;
    },

    /**
     * The result of a shard whose ID already ran (a re-run of a failed batch finds its succeeded
     * shards): waits for it if it still runs. Throws (non-retryable) when it did not succeed.
     */
    async shardResult(req: { taskId: string }): Promise<unknown> {
      const ctx = Context.current();
      try {
        return await ctx.client.workflow.getHandle(req.taskId).result();
      } catch (err) {
        throw ApplicationFailure.create({ type: 'ShardFailed', nonRetryable: true, message: `shard ${req.taskId}: ${String(err)}` });
      }
    },
  };
}

/**
 * Local activity on the control worker: validates an envelope (from any client, including a plain
 * Temporal client) against the catalog and returns what the workflow needs to run it.
 */
export function createControlActivities(catalog: Catalog) {
  return {
    ...createFlowActivities(catalog),
    async resolveTask(envelope: unknown): Promise<ResolvedTask> {
      let resolved: ResolvedTask;
      try {
        resolved = resolveEnvelope(catalog, envelope);
      } catch (err) {
        const e = err as { type?: string; message?: string; issues?: unknown };
        throw ApplicationFailure.create({
          type: e.type ?? 'ValidationError',
          message: e.message ?? String(err),
          nonRetryable: true,
          details: e.issues ? [e.issues] : [],
        });
      }
      const earlier = await earlierSuccess(Context.current());
      return earlier ? { ...resolved, earlierSuccess: earlier } : resolved;
    },
  };
}

/** A duplicate run carries the earlier result only up to this size (it is recorded in its history). */
export const EARLIER_RESULT_MAX_BYTES = 64 * 1024;

/**
 * The earlier run of this workflow ID that succeeded, if any: what makes "succeeds once" hold for
 * plain Temporal clients, whose default reuse policy allows a new run after a completed one.
 * Visibility answers it, so it holds once the success is visible there (at once on the dev
 * server's SQLite, within a moment on Elasticsearch) and until the namespace's retention removes
 * the closed run. TaskClient and HTTP starts never get here: they refuse such a start themselves.
 */
async function earlierSuccess(ctx: Context): Promise<EarlierSuccess | undefined> {
  const wf = ctx.info.workflowExecution;
  if (!wf) return undefined; // not run by a workflow (a test calling the activity directly)
  const client = ctx.client;
  const quoted = JSON.stringify(wf.workflowId); // a visibility string literal: quotes and backslashes escaped
  const query = `WorkflowId=${quoted} AND ${SA_KEYS.TaskStatus.name}="succeeded" AND ExecutionStatus="Completed"`;
  for await (const run of client.workflow.list({ query, pageSize: 1 })) {
    if (run.runId === wf.runId) continue;
    const found: EarlierSuccess = { runId: run.runId, ...(run.closeTime ? { finishedAt: run.closeTime.toISOString() } : {}) };
    try {
      const result: unknown = await client.workflow.getHandle(wf.workflowId, run.runId).result();
      const size = Buffer.byteLength(JSON.stringify(result ?? null));
      return size <= EARLIER_RESULT_MAX_BYTES ? { ...found, result } : { ...found, resultOmitted: true };
    } catch {
      return { ...found, resultOmitted: true };
    }
  }
  return undefined;
}

export type PoolActivities = ReturnType<typeof createPoolActivities>;
export type ControlActivities = ReturnType<typeof createControlActivities>;
