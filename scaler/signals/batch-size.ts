import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { RUN_BATCH_WORKFLOW } from '../../config/names';
import { SA_KEYS } from '../../config/search-attributes';

/** What the learner knows of a batch schedule's size. */
export interface LearnedBatchSize {
  /** Shards one fire is expected to start: the most any of the runs read started. */
  readonly shards: number;
  /** Completed runs it was learned from (at most `runs`). */
  readonly runs: number;
}

export interface BatchSizeLearnerOptions {
  /** Completed runs of a schedule to learn from. @default 5 */
  runs?: number;
}

/** The part of a BatchResult the learner reads. */
const batchTotalSchema = z.object({ total: z.number().int().min(0) }).loose();

/**
 * Temporal names a scheduled run `<workflowId>-<fire time, RFC 3339>`, where the workflow ID is the
 * action's (Tideway's catalog schedules use the schedule ID) or `<scheduleId>-workflow` (the SDK's
 * default). Matching the whole shape keeps schedule `a` from learning the runs of schedule `a-b`.
 */
export function scheduledRunId(scheduleId: string): RegExp {
  const id = scheduleId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${id}(-workflow)?-\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$`);
}

/**
 * Learns how many shards a batch schedule's fire starts, from its last completed runs: a visibility
 * listing of `runBatch` runs of the schedule that completed (newest first, the listing's default
 * order), then each new run's result (`BatchResult.total`), read once and cached by run ID. The
 * schedule is found by workflow ID, not by `TemporalScheduledById`: runBatch's continue-as-new passes
 * its search attributes explicitly, and the final run of a long batch no longer has that attribute.
 * Per schedule and round: one listing of at most `runs` rows, and results of new runs only.
 */
export class BatchSizeLearner {
  private readonly runs: number;
  /** Per schedule: total per run ID of the runs the last listing returned. */
  private readonly totals = new Map<string, Map<string, number>>();

  constructor(
    private readonly client: Client,
    opts: BatchSizeLearnerOptions = {},
  ) {
    this.runs = opts.runs ?? 5;
  }

  /** The learned size of `scheduleId` (batch type `taskType`); undefined until one run completed. */
  async learn(scheduleId: string, taskType: string): Promise<LearnedBatchSize | undefined> {
    // Visibility strings are single-quoted; an ID or type that would need escaping is not learned.
    if (/['"\\]/.test(scheduleId) || /['"\\]/.test(taskType)) return undefined;
    const shape = scheduledRunId(scheduleId);
    const query =
      `WorkflowType = '${RUN_BATCH_WORKFLOW}' AND ExecutionStatus = 'Completed' AND ` +
      `${SA_KEYS.TaskType.name} = '${taskType}' AND WorkflowId STARTS_WITH '${scheduleId}-'`;
    const found: { workflowId: string; runId: string; closedAt: number }[] = [];
    for await (const wf of this.client.workflow.list({ query, pageSize: this.runs })) {
      if (shape.test(wf.workflowId)) found.push({ workflowId: wf.workflowId, runId: wf.runId, closedAt: wf.closeTime?.getTime() ?? 0 });
      if (found.length >= this.runs) break;
    }
    const known = this.totals.get(scheduleId) ?? new Map<string, number>();
    const next = new Map<string, number>();
    for (const run of found.sort((a, b) => b.closedAt - a.closedAt)) {
      let total = known.get(run.runId);
      if (total === undefined) {
        const parsed = batchTotalSchema.safeParse(
          await this.client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false }).result(),
        );
        if (!parsed.success) continue;
        total = parsed.data.total;
      }
      next.set(run.runId, total);
    }
    this.totals.set(scheduleId, next);
    if (next.size === 0) return undefined;
    return { shards: Math.max(...next.values()), runs: next.size };
  }
}
