import { z } from 'zod';
import { tenantSchema } from './envelope';
import { LANES, RUN_BATCH_WORKFLOW, RUN_TASK_WORKFLOW, TASK_STATUSES } from './names';
import { SA_KEYS } from './search-attributes';

// `#` too: a batch's shards have type `<name>#shard`. Nothing here can close the query's quotes.
const keyword = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._#-]{0,99}$/, 'letters, digits, . _ - # only');

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

/** The search attribute each filter field matches, in the order the query names them. */
const FILTER_ATTRIBUTES = {
  type: SA_KEYS.TaskType,
  group: SA_KEYS.ServiceGroup,
  lane: SA_KEYS.Lane,
  status: SA_KEYS.TaskStatus,
  tenant: SA_KEYS.TenantId,
} as const satisfies Record<keyof ListFilter, unknown>;

/** Which executions a visibility query covers besides the filter. */
export interface VisibilityScope {
  /** Only the tasks started on this control queue, i.e. of one app. */
  controlQueue?: string;
  /** Only open executions (those that can still be signalled, cancelled or counted as in flight). */
  running?: boolean;
  /** Leave out batch parents (`runBatch`), e.g. to count what occupies pool slots. @default false */
  tasksOnly?: boolean;
}

/**
 * Builds every visibility query over Tideway's tasks (lists, counts, batches, in-flight counts):
 * `WorkflowType IN ("runTask","runBatch") AND TaskQueue="<control queue>" AND TaskStatus="..." AND ExecutionStatus="Running"`.
 * Batch parents are tasks too (listed, counted, cancelled by filter); their shards are `runTask`s.
 * The control queue keeps one app's tasks apart from another app's on the same namespace
 * (Temporal's built-in TaskQueue attribute, so nothing extra is registered).
 */
export function visibilityQuery(filter: ListFilter, scope: VisibilityScope = {}): string {
  const f = listFilterSchema.parse(filter);
  const parts = [
    scope.tasksOnly ? `WorkflowType="${RUN_TASK_WORKFLOW}"` : `WorkflowType IN ("${RUN_TASK_WORKFLOW}","${RUN_BATCH_WORKFLOW}")`,
  ];
  if (scope.controlQueue) parts.push(`TaskQueue="${scope.controlQueue}"`);
  for (const [field, key] of Object.entries(FILTER_ATTRIBUTES)) {
    const value = f[field as keyof ListFilter];
    if (value) parts.push(`${key.name}="${value}"`);
  }
  if (scope.running) parts.push('ExecutionStatus="Running"');
  return parts.join(' AND ');
}
