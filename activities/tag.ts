import type { TaskTag } from '../config/task';
import { traceHeaders } from '../temporal/tracing';

/** Header naming the task a downstream call is made for. */
export const TASK_HEADER = 'x-tideway-task';
/** Header carrying the caller's tag of that task. */
export const TAG_HEADER = 'x-tideway-tag';

/** The tag of one task, as its handler sees it on `ctx.tag`. */
export function taskTag(taskId: string, tag?: string): TaskTag {
  return {
    taskId,
    tag,
    headers: () => ({
      // Read at call time: the active span is the attempt's only inside the handler's own call chain.
      ...traceHeaders(),
      [TASK_HEADER]: taskId,
      ...(tag !== undefined ? { [TAG_HEADER]: tag } : {}),
    }),
  };
}
