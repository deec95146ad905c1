import { defineSearchAttributeKey, type TypedSearchAttributes } from '@temporalio/common';
import { z } from 'zod';
import { tenantSchema } from '../config/envelope';
import { LANES, RUN_TASK_WORKFLOW, TASK_STATUSES, type Lane, type TaskStatus } from '../config/names';

/** Typed keys of Tideway's search attributes, for client-side reads and writes. */
export const SA_KEYS = {
  TaskType: defineSearchAttributeKey('TaskType', 'KEYWORD'),
  ServiceGroup: defineSearchAttributeKey('ServiceGroup', 'KEYWORD'),
  Lane: defineSearchAttributeKey('Lane', 'KEYWORD'),
  TenantId: defineSearchAttributeKey('TenantId', 'KEYWORD'),
  TaskStatus: defineSearchAttributeKey('TaskStatus', 'KEYWORD'),
};

const keyword = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, . _ - only');

/** Filter for listing tasks; every value is validated so it can be placed in a visibility query safely. */
export const listFilterSchema = z
  .object({
    type: keyword.optional(),
    group: keyword.optional(),
    lane: z.enum(LANES).optional(),
    status: z.enum(TASK_STATUSES).optional(),
    tenant: tenantSchema.optional(),
  })
  .strict();
export type ListFilter = z.input<typeof listFilterSchema>;

/**
 * Builds the visibility query for a filter: `WorkflowType="runTask" AND TaskQueue="<control queue>"
 * AND TaskStatus="..."`. The control queue keeps one app's list free of another app's tasks on the
 * same namespace (Temporal's built-in TaskQueue attribute, so nothing extra is registered).
 */
export function visibilityQuery(filter: ListFilter, controlQueue?: string): string {
  const f = listFilterSchema.parse(filter);
  const parts = [`WorkflowType="${RUN_TASK_WORKFLOW}"`];
  if (controlQueue) parts.push(`TaskQueue="${controlQueue}"`);
  if (f.type) parts.push(`TaskType="${f.type}"`);
  if (f.group) parts.push(`ServiceGroup="${f.group}"`);
  if (f.lane) parts.push(`Lane="${f.lane}"`);
  if (f.status) parts.push(`TaskStatus="${f.status}"`);
  if (f.tenant) parts.push(`TenantId="${f.tenant}"`);
  return parts.join(' AND ');
}

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
