import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

const ACTIVITY = temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY;

/** The numbers DescribeTaskQueue reports for one activity queue, as plain numbers. */
export interface QueueStats {
  backlog: number;
  backlogAgeMs: number;
  /** Tasks per second added (30 s average). */
  addRate: number;
  /** Tasks per second dispatched to workers (30 s average). */
  dispatchRate: number;
}

/**
 * Reads one activity queue's backlog stats (DescribeTaskQueue with reportStats; the server caches
 * the answer for about 5 s). Used by the scaler's backlog signal and the API's backpressure.
 */
export async function describeQueueStats(client: Client, taskQueue: string): Promise<QueueStats> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: ACTIVITY,
    reportStats: true,
  });
  const s = r.stats;
  const count = s?.approximateBacklogCount;
  return {
    backlog: count == null ? 0 : typeof count === 'number' ? count : count.toNumber(),
    backlogAgeMs: optionalTsToMs(s?.approximateBacklogAge) ?? 0,
    addRate: s?.tasksAddRate ?? 0,
    dispatchRate: s?.tasksDispatchRate ?? 0,
  };
}
