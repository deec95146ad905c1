import type { TypedSearchAttributes } from '@temporalio/common';
import type { Lane, TaskStatus } from '../config/names';
import { SA_KEYS } from '../config/search-attributes';

/** One row of a task list, read from visibility (no worker needed). */
export interface TaskSummary {
  taskId: string;
  runId: string;
  type: string | undefined;
  status: TaskStatus | undefined;
  lane: Lane | undefined;
  group: string | undefined;
  tenant: string | undefined;
  /** Temporal's own execution status (RUNNING, COMPLETED, FAILED, ...). */
  executionStatus: string;
  startTime: string;
  closeTime: string | undefined;
}

export function summaryFrom(
  workflowId: string,
  runId: string,
  sa: TypedSearchAttributes,
  executionStatus: string,
  startTime: Date,
  closeTime: Date | undefined,
): TaskSummary {
  return {
    taskId: workflowId,
    runId,
    type: sa.get(SA_KEYS.TaskType),
    status: sa.get(SA_KEYS.TaskStatus) as TaskStatus | undefined,
    lane: sa.get(SA_KEYS.Lane) as Lane | undefined,
    group: sa.get(SA_KEYS.ServiceGroup),
    tenant: sa.get(SA_KEYS.TenantId),
    executionStatus,
    startTime: startTime.toISOString(),
    closeTime: closeTime?.toISOString(),
  };
}
