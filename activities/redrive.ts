import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { redriveSignal } from '../config/messages';
import { RUN_TASK_WORKFLOW } from '../config/names';
import { SA_KEYS } from '../config/search-attributes';
import { heartbeatWhile } from './heartbeat';

/** What `runBatch` asks of `redriveShard`: one failed shard of the batch being redriven. */
export interface RedriveShardRequest {
  /** The shard's task ID, `<batchId>/shard-<n>`. */
  taskId: string;
}

/**
 * How `redriveShard` dealt with a shard: it succeeded (redriven and waited for, or it had
 * succeeded already), or it is closed for good and must be started again; its input is the one
 * its last run started with, and `runBatch` starts it as its own child so a dead letter reaches it.
 */
export type RedriveShardOutcome = { kind: 'succeeded'; result: unknown } | { kind: 'restart'; input: unknown };

/** How often a waiting `redriveShard` heartbeats (its heartbeat timeout is a few times this). */
export const REDRIVE_HEARTBEAT_MS = 5_000;

/** What `runBatch` asks of `awaitShards`: shards a previous run of the batch started and did not see finish. */
export interface AwaitShardsRequest {
  taskIds: string[];
}

/** How each settled shard ended: its result, or why it did not succeed. */
export type SettledShard = { taskId: string; ok: true; result: unknown } | { taskId: string; ok: false; error: string };

/** After the first shard settles, how long `awaitShards` waits for more before it answers. */
export const AWAIT_SHARDS_LINGER_MS = 300;
/** Encoded results one `awaitShards` answer carries at most (Temporal's payload limit is 2 MiB). */
export const AWAIT_SHARDS_MAX_BYTES = 1024 * 1024;

/** The shard redrive queue's activities (hosted by the control process). */
export function createRedriveActivities() {
  return {
    /**
     * Waits for shards that an earlier run of a batch started (it continued as new without waiting
     * for them, so their completions no longer reach it as a child's): answers once at least one has
     * closed, with every one that closed within a short linger after it (results up to 1 MiB; the
     * rest come in the next call, at once, since they are closed). A shard that fails, is cancelled
     * or terminated is reported with why. An open dead-lettered shard never settles here: it signals
     * the batch, which cancels this call and asks again without it. Heartbeats while it waits.
     */
    async awaitShards(req: AwaitShardsRequest): Promise<SettledShard[]> {
      const ctx = Context.current();
      const client = ctx.client;
      const abort = new AbortController();
      const stop = () => abort.abort();
      ctx.cancellationSignal.addEventListener('abort', stop);
      const settled: SettledShard[] = [];
      let first: () => void = () => undefined;
      const firstSettled = new Promise<void>((resolve) => (first = resolve));
      const waits = req.taskIds.map(async (taskId) => {
        try {
          const result: unknown = await client.withAbortSignal(abort.signal, () => client.workflow.getHandle(taskId).result());
          settled.push({ taskId, ok: true, result });
        } catch (err) {
          if (abort.signal.aborted) return;
          if (err instanceof WorkflowFailedError) {
            settled.push({ taskId, ok: false, error: err.cause?.message ?? err.message });
          } else if (err instanceof WorkflowNotFoundError) {
            settled.push({ taskId, ok: false, error: `shard ${taskId} is gone (namespace retention?)` });
          } else {
            // A connection error: the shard has not settled; the next call waits for it again.
            return;
          }
        }
        first();
      });
      try {
        await heartbeatWhile(ctx, REDRIVE_HEARTBEAT_MS, async () => {
          const all = Promise.all(waits);
          await Promise.race([firstSettled, all, ctx.cancelled]);
          await Promise.race([new Promise((r) => setTimeout(r, AWAIT_SHARDS_LINGER_MS)), all, ctx.cancelled]);
        });
      } finally {
        ctx.cancellationSignal.removeEventListener('abort', stop);
        abort.abort(); // the shards still open stop being polled; the next call asks again
      }
      const out: SettledShard[] = [];
      let bytes = 0;
      for (const s of settled) {
        const size = JSON.stringify(s).length;
        if (out.length > 0 && bytes + size > AWAIT_SHARDS_MAX_BYTES) break;
        out.push(s);
        bytes += size;
      }
      if (out.length === 0 && settled.length === 0) {
        // Every wait hit a connection error: a retry (Temporal's) asks again.
        throw ApplicationFailure.create({
          type: 'ShardWaitFailed',
          message: `waiting for ${req.taskIds.length} shard(s) failed; retrying`,
        });
      }
      return out;
    },

    /**
     * Redrives one failed shard and waits for it. Open and dead-lettered: signals `redrive`, then
     * waits for its result. Open otherwise (an operator redrove it already): waits. Closed
     * completed: its result. Closed failed, cancelled, terminated or timed out: `restart` with the
     * input its last run started with. Throws `ShardFailed` (non-retryable) when the shard ends
     * without success while waited for, `ShardNotFound` when Temporal no longer has it. `runBatch`
     * cancels the wait when the shard dead-letters again (it signals the batch).
     */
    async redriveShard(req: RedriveShardRequest): Promise<RedriveShardOutcome> {
      const ctx = Context.current();
      const client = ctx.client;
      const handle = client.workflow.getHandle(req.taskId);
      let d: Awaited<ReturnType<typeof handle.describe>>;
      try {
        d = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw ApplicationFailure.create({
            type: 'ShardNotFound',
            nonRetryable: true,
            message: `shard ${req.taskId} is gone (namespace retention?); it cannot be redriven`,
          });
        }
        throw err;
      }
      if (d.type !== RUN_TASK_WORKFLOW) {
        throw ApplicationFailure.create({
          type: 'ValidationError',
          nonRetryable: true,
          message: `${req.taskId} is a ${d.type}, not a shard task`,
        });
      }
      const status = d.status.name;
      if (status === 'COMPLETED') return { kind: 'succeeded', result: await handle.result() };
      if (status !== 'RUNNING') {
        // Closed for good: the input its last run started with (the first event of that run).
        const res = await client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId: req.taskId, runId: d.runId },
          maximumPageSize: 1,
        });
        const started = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
        const args = await decodeArrayFromPayloads(client.options.loadedDataConverter, started?.input?.payloads);
        const envelope = args[0] as { input?: unknown } | undefined;
        return { kind: 'restart', input: envelope?.input };
      }
      // Open. Mutable state's search attribute, not a query: no control worker needed to read it.
      if (d.typedSearchAttributes.get(SA_KEYS.TaskStatus) === 'dead_lettered') {
        // A retention ending meanwhile makes this throw; the retry finds the shard closed and restarts it.
        await handle.signal(redriveSignal, {});
      }
      try {
        // Aborted with the activity (the batch heard the shard dead-letter again, or was cancelled).
        const result: unknown = await heartbeatWhile(ctx, REDRIVE_HEARTBEAT_MS, () =>
          client.withAbortSignal(ctx.cancellationSignal, () => handle.result()),
        );
        return { kind: 'succeeded', result };
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          throw ApplicationFailure.create({
            type: 'ShardFailed',
            nonRetryable: true,
            message: `shard ${req.taskId} did not succeed: ${err.cause?.message ?? err.message}`,
          });
        }
        throw err;
      }
    },
  };
}

export type RedriveActivities = ReturnType<typeof createRedriveActivities>;
