import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

const QUEUE_TYPES = {
  activity: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  workflow: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
} as const;

/** Which half of a task queue to read: pools' queues hold activity tasks, the control queue workflow tasks. */
export type QueueType = keyof typeof QUEUE_TYPES;

/** The numbers DescribeTaskQueue reports for one queue, as plain numbers. */
export interface QueueStats {
  backlog: number;
  backlogAgeMs: number;
  /** Tasks per second added (30 s average). */
  addRate: number;
  /** Tasks per second dispatched to workers (30 s average). */
  dispatchRate: number;
}

/**
 * Reads one queue's backlog stats (DescribeTaskQueue with reportStats; the server caches the answer
 * for about 5 s), of its activity tasks unless `type` says workflow. Used by the scaler's backlog
 * signal, the API's backpressure and adaptive admission's health signal.
 */
export async function describeQueueStats(client: Client, taskQueue: string, type: QueueType = 'activity'): Promise<QueueStats> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: QUEUE_TYPES[type],
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
