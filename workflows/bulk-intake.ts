import { proxyActivities, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
// Types only (and workflow-safe definitions): no catalog, no zod in workflow code.
import type { IntakeActivities } from '../activities/intake';
import {
  CHUNK_PROGRESS_MEMO,
  MAX_FAILURES_KEPT,
  bulkChunkQuery,
  cancelIntakeSignal,
  initialChunkProgress,
  pendingTaskQuery,
  type ChunkProgress,
  type IntakeChunkInput,
} from '../config/bulk';
import { LANE_PRIORITY_KEY, appOfControlQueue, intakeTaskQueue } from '../config/names';

/** Items handed to one `startTasks` call at most, and their encoded size at most. */
const SLICE_ITEMS = 100;
const SLICE_BYTES = 512 * 1024;

/**
 * One chunk of a bulk: holds up to 500 accepted tasks (its input is their durable record) and
 * starts them through the intake activity, slice by slice, at the rate the admission gate of the
 * control process allows. History stays bounded: the chunk's items once in the input, once more in
 * the slices' inputs, a few events per slice. Cancelling (the `cancelIntake` signal) takes effect
 * after the current slice; the tasks not started by then never start.
 */
export async function bulkIntake(input: IntakeChunkInput): Promise<ChunkProgress> {
  const { bulkId, tenant, lane, items } = input;
  const app = appOfControlQueue(workflowInfo().taskQueue);
  const { startTasks } = proxyActivities<IntakeActivities>({
    taskQueue: intakeTaskQueue(app),
    // A slice returns within seconds (it stops early when it has worked a while); a worker killed
    // mid-slice is noticed by the heartbeat timeout and the slice resumes elsewhere without
    // starting anything twice (the activity checks what it already started).
    startToCloseTimeout: '10m',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', maximumInterval: '30s' },
    // The lane's priority, and the tenant as fairness key: two tenants' bulks share the intake workers.
    priority: { priorityKey: LANE_PRIORITY_KEY[lane], fairnessKey: tenant.slice(0, 64) },
  });

  const progress: ChunkProgress = initialChunkProgress(input);
  let next = 0;
  let cancelRequested = false;
  const position = new Map<string, number>(items.map((it, i) => [it.taskId, i]));

  setHandler(bulkChunkQuery, () => progress);
  setHandler(pendingTaskQuery, (taskId: string) => {
    const i = position.get(taskId);
    if (i === undefined || i < next || progress.state !== 'running') return null;
    return { taskId, type: items[i]!.envelope.type, bulkId, chunk: input.chunk, tenant, lane, acceptedAt: input.acceptedAt };
  });
  setHandler(cancelIntakeSignal, () => {
    cancelRequested = true;
  });

  while (next < items.length && !cancelRequested) {
    const slice = sliceFrom(items, next);
    const r = await startTasks({ bulkId, tenant, lane, items: slice });
    next += r.processed;
    progress.started += r.started;
    progress.duplicate += r.duplicate;
    progress.failed += r.failed;
    progress.failures.push(...r.failures.slice(0, Math.max(0, MAX_FAILURES_KEPT - progress.failures.length)));
    if (next < items.length) upsertMemo({ [CHUNK_PROGRESS_MEMO]: progress });
  }
  progress.cancelled = items.length - next;
  progress.state = progress.cancelled > 0 ? 'cancelled' : 'completed';
  upsertMemo({ [CHUNK_PROGRESS_MEMO]: progress });
  return progress;
}

function sliceFrom<T>(items: readonly T[], from: number): T[] {
  const out: T[] = [];
  let bytes = 0;
  for (let i = from; i < items.length && out.length < SLICE_ITEMS; i++) {
    const size = JSON.stringify(items[i]).length;
    if (out.length > 0 && bytes + size > SLICE_BYTES) break;
    out.push(items[i]!);
    bytes += size;
  }
  return out;
}
