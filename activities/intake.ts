import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SA_KEYS } from '../config/search-attributes';
import type { Catalog } from '../config/catalog-schema';
import { resolveEnvelope } from '../config/envelope';
import type { IntakeItem, SliceInput, SliceResult } from '../config/bulk';
import type { Lane } from '../config/names';
import { taskStartOptions } from '../api/start-task';
import { heartbeatWhile } from './heartbeat';

/**
 * What paces the intake's starts: the control process's admission gate (admission/), seen through
 * the two calls the intake needs.
 */
export interface StartPacer {
  acquire(lane: Lane, tenant: string, opts?: { maxWaitMs?: number; signal?: AbortSignal }): Promise<void>;
  observeStart(lane: Lane, ms: number): void;
}

export interface IntakeActivityOptions {
  catalog: Catalog;
  pacer: StartPacer;
  /** A slice returns after about this long, so a cancel or a crash costs little. @default 5000 */
  sliceMs?: number;
  /** Starts in flight at once per slice. @default 8 */
  inFlight?: number;
}

/** The intake queue's activities (hosted by the control process). */
export function createIntakeActivities(opts: IntakeActivityOptions) {
  const sliceMs = opts.sliceMs ?? 5_000;
  const inFlight = opts.inFlight ?? 8;
  return {
    /**
     * Starts the slice's tasks in order, each after the pacer admits it, and returns how many it
     * dealt with (it stops early after `sliceMs`, the workflow sends the rest again).
     *
     * Never starts a task twice: a task workflow carries its bulk's ID, so when a slice runs again
     * after a crash (attempt > 1) every item is looked up first, and one this bulk already started
     * counts as started. An ID that is live or succeeded for anyone else counts as a duplicate,
     * as for any submit.
     */
    async startTasks(input: SliceInput): Promise<SliceResult> {
      const ctx = Context.current();
      const client = ctx.client;
      const resumed = ctx.info.attempt > 1;
      const deadline = Date.now() + sliceMs;
      const outcome: ('started' | 'duplicate' | { failed: string })[] = [];
      // An infrastructure error fails the slice; the retry resumes with lookups.
      let infraError: unknown;
      let dispatched = 0;
      // Heartbeats only say the slice is alive: a retry re-checks every item, so it needs no progress.
      await heartbeatWhile(ctx, 1_000, async () => {
        const running = new Set<Promise<void>>();
        for (const [i, item] of input.items.entries()) {
          if (Date.now() >= deadline && i > 0) break;
          if (ctx.cancellationSignal.aborted) break;
          await opts.pacer.acquire(input.lane, input.tenant, { signal: ctx.cancellationSignal });
          dispatched = i + 1;
          const tracked: Promise<void> = startOne(client, opts, input, item, resumed)
            .then(
              (r) => {
                outcome[i] = r;
              },
              (err: unknown) => {
                infraError ??= err;
              },
            )
            .finally(() => running.delete(tracked));
          running.add(tracked);
          if (running.size >= inFlight) await Promise.race(running);
        }
        await Promise.all(running);
      });
      if (infraError !== undefined) throw infraError;
      const result: SliceResult = { processed: dispatched, started: 0, duplicate: 0, failed: 0, failures: [] };
      for (const [i, o] of outcome.entries()) {
        if (o === 'started') result.started++;
        else if (o === 'duplicate') result.duplicate++;
        else {
          result.failed++;
          result.failures.push({ taskId: input.items[i]!.taskId, message: o.failed });
        }
      }
      return result;
    },
  };
}

export type IntakeActivities = ReturnType<typeof createIntakeActivities>;

async function startOne(
  client: Client,
  opts: IntakeActivityOptions,
  input: SliceInput,
  item: IntakeItem,
  resumed: boolean,
): Promise<'started' | 'duplicate' | { failed: string }> {
  if (resumed && (await startedByThisBulk(client, item.taskId, input.bulkId))) return 'started';
  const envelope = { ...item.envelope, tenant: input.tenant, lane: input.lane };
  let resolved;
  try {
    // Validated when accepted; this fails only if the catalog changed since (a type removed, say).
    resolved = resolveEnvelope(opts.catalog, envelope);
  } catch (err) {
    return { failed: err instanceof Error ? err.message : String(err) };
  }
  const { workflowType, options } = taskStartOptions(opts.catalog, resolved, envelope, item.taskId, { bulkId: input.bulkId });
  const t0 = Date.now();
  try {
    await client.workflow.start(workflowType, options);
    opts.pacer.observeStart(input.lane, Date.now() - t0);
    return 'started';
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    opts.pacer.observeStart(input.lane, Date.now() - t0);
    // Ours after all (a start whose answer was lost), or someone else's live or succeeded task.
    return (await startedByThisBulk(client, item.taskId, input.bulkId)) ? 'started' : 'duplicate';
  }
}

async function startedByThisBulk(client: Client, taskId: string, bulkId: string): Promise<boolean> {
  try {
    const d = await client.workflow.getHandle(taskId).describe();
    return d.typedSearchAttributes.get(SA_KEYS.BulkId) === bulkId;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
