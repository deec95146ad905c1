import { TidewayError } from '../config/errors';

export { ValidationError, UnknownTaskTypeError, TidewayError } from '../config/errors';
export { AdmissionThrottledError } from '../config/admission';

/** Thrown by TaskClient when no task has the given ID (or the caller may not see it). */
export class TaskNotFoundError extends TidewayError {
  readonly type = 'TaskNotFound';
  constructor(readonly taskId: string) {
    super(`no task with ID ${JSON.stringify(taskId)}`);
  }
}

/** Thrown by TaskSchedules when no schedule has the given ID. */
export class ScheduleNotFoundError extends TidewayError {
  readonly type = 'ScheduleNotFound';
  constructor(readonly scheduleId: string) {
    super(`no schedule with ID ${JSON.stringify(scheduleId)}`);
  }
}

/** Thrown when an operation does not fit the task's state (cancel a finished task, redrive a live one). */
export class TaskConflictError extends TidewayError {
  readonly type = 'TaskConflict';
  constructor(
    readonly taskId: string,
    readonly status: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown by `result()` when the task ended without a result. */
export class TaskFailedError extends TidewayError {
  readonly type = 'TaskFailed';
  constructor(
    readonly taskId: string,
    readonly status: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
