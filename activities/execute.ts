import { Context } from '@temporalio/activity';
import { ApplicationFailure, type SignalDefinition } from '@temporalio/common';
import type { Catalog } from '../config/catalog-schema';
import { resolveEnvelope, type EarlierSuccess, type ResolvedTask } from '../config/envelope';
import { attemptFailedSignal, attemptStartedSignal } from '../config/messages';
import { SA_KEYS } from '../config/search-attributes';
import type { Lane } from '../config/names';
import type { TaskContext, TaskHandler } from '../config/task';
import { toFailure, type FailureDetail } from './classify';
import { NonRetryableError } from './errors';

/** What `runTask` passes to `executeTask` on the pool's queue. */
export interface ExecuteRequest {
  taskId: string;
  type: string;
  input: unknown;
  lane: Lane;
  tenant: string;
  /** Attempts already made by earlier activity schedules of this task (pause/resume, redrive). */
  attemptOffset?: number;
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
export function createPoolActivities(catalog: Catalog, group: string, handlers: ReadonlyMap<string, TaskHandler<unknown, unknown>>) {
  return {
    async executeTask(req: ExecuteRequest): Promise<unknown> {
      const ctx = Context.current();
      const task = catalog.get(req.type);
      const handler = handlers.get(req.type);
      if (!task || task.group !== group || !handler) {
        throw ApplicationFailure.create({
          type: 'UnknownTaskTypeError',
          nonRetryable: true,
          message: `pool for group ${group} has no handler for ${req.type}`,
        });
      }
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
      };
      try {
        const result = await handler(req.input, taskCtx);
        clearTimeout(startedTimer);
        const checked = task.def.output?.safeParse(result);
        if (checked && !checked.success) {
          // The handler's code is wrong, not the moment: another attempt would return the same.
          throw new NonRetryableError(
            `${req.type} returned a result that does not match its output schema: ${checked.error.issues
              .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
              .join('; ')}`,
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
    },
  };
}

/**
 * Local activity on the control worker: validates an envelope (from any client, including a plain
 * Temporal client) against the catalog and returns what the workflow needs to run it.
 */
export function createControlActivities(catalog: Catalog) {
  return {
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
