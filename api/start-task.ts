import type { WorkflowStartOptions } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Catalog } from '../config/catalog-schema';
import type { ResolvedTask, TaskEnvelope } from '../config/envelope';
import { LANE_PRIORITY_KEY, RUN_BATCH_WORKFLOW, RUN_TASK_WORKFLOW, type TaskStatus } from '../config/names';
import { taskAttributePairs, taskUserMetadata } from '../config/search-attributes';
import type { ClientResolvedTask } from '../workflows/run-task';

/**
 * How a task's workflow is started, defined once for every path that starts one (TaskClient's
 * submit, the bulk intake activity; batch types too, as `runBatch`): the task ID is the workflow ID, a live or succeeded ID is not
 * started again, the lane is the priority key, and the search attributes are set at start.
 */
export function taskStartOptions(
  catalog: Catalog,
  resolved: ResolvedTask,
  envelope: TaskEnvelope,
  taskId: string,
  extra: { bulkId?: string; fairnessWeight?: number } = {},
): { workflowType: typeof RUN_TASK_WORKFLOW | typeof RUN_BATCH_WORKFLOW; options: WorkflowStartOptions; status: TaskStatus } {
  const status: TaskStatus = resolved.delayMs ? 'scheduled' : 'queued';
  // The delay is applied by Temporal's start delay, so the workflow must not wait it again.
  const { delay: _delay, ...rest } = envelope;
  return {
    // A batch type's task is the parent of its shards (workflows/run-batch.ts); same ID and dedupe rules.
    workflowType: resolved.batch ? RUN_BATCH_WORKFLOW : RUN_TASK_WORKFLOW,
    status,
    options: {
      taskQueue: catalog.controlQueue,
      workflowId: taskId,
      args: [rest, clientResolution(resolved, envelope)],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      ...(resolved.delayMs ? { startDelay: resolved.delayMs } : {}),
      // The weight of the tenant's plan (config/plans.ts): the workflow hands it to its activity, so
      // the tenant's fairness key is dispatched in proportion to it inside the lane's queue.
      priority: {
        priorityKey: LANE_PRIORITY_KEY[resolved.lane],
        ...(extra.fairnessWeight !== undefined ? { fairnessWeight: extra.fairnessWeight } : {}),
      },
      // Shown in the Temporal Web UI's workflow list and detail page.
      ...taskUserMetadata(resolved, bulkOf(extra)),
      typedSearchAttributes: new TypedSearchAttributes(taskAttributePairs({ ...resolved, status, ...bulkOf(extra) })),
    },
  };
}

/**
 * The resolution the workflow may use instead of resolving again. The start delay is Temporal's
 * (never waited twice), and the input is sent once unless the schema changed it.
 */
function clientResolution(resolved: ResolvedTask, envelope: TaskEnvelope): ClientResolvedTask {
  const { delayMs: _delay, input, ...rest } = resolved;
  // Every search attribute is set at start, so the workflow need not upsert them again.
  const out: ClientResolvedTask = { ...rest, attributesAtStart: true };
  return JSON.stringify(input) === JSON.stringify(envelope.input) ? out : { ...out, input };
}

function bulkOf(extra: { bulkId?: string }): { bulkId?: string } {
  return extra.bulkId !== undefined ? { bulkId: extra.bulkId } : {};
}
