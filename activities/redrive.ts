import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { redriveSignal } from '../config/messages';
import { RUN_TASK_WORKFLOW } from '../config/names';
import { SA_KEYS } from '../config/search-attributes';

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

/** The shard redrive queue's activities (hosted by the control process). */
export function createRedriveActivities() {
  return {
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
      const beat = setInterval(() => ctx.heartbeat(), REDRIVE_HEARTBEAT_MS);
      try {
        // Aborted with the activity (the batch heard the shard dead-letter again, or was cancelled).
        const result: unknown = await client.withAbortSignal(ctx.cancellationSignal, () => handle.result());
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
      } finally {
        clearInterval(beat);
      }
    },
  };
}

export type RedriveActivities = ReturnType<typeof createRedriveActivities>;
