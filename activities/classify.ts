import { ApplicationFailure } from '@temporalio/common';
import type { CompiledTask } from '../config/catalog-schema';
import { throttledDelayMs, type ErrorClass } from '../config/retry';

/** Detail attached to every failure Tideway raises from a handler, readable by the workflow. */
export interface FailureDetail {
  class: ErrorClass;
  retryAfterMs?: number;
}

function errorType(err: unknown): string {
  if (err && typeof err === 'object') {
    const t = (err as { type?: unknown }).type;
    if (typeof t === 'string' && t) return t;
    const n = (err as { name?: unknown }).name;
    if (typeof n === 'string' && n) return n;
  }
  return 'Error';
}

/** Decides the class of an error a handler threw, using the type's classifier first. */
export function classifyError(task: CompiledTask, err: unknown): { cls: ErrorClass; retryAfterMs?: number } {
  const custom = task.retry.classify?.(err);
  const type = errorType(err);
  const retryAfterMs = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  const ra = typeof retryAfterMs === 'number' ? { retryAfterMs } : {};
  if (custom) return { cls: custom, ...ra };
  // Match on the stable `type` string, not instanceof: handlers may load their own copy of the classes.
  if (type === 'NonRetryableError' || task.retry.nonRetryable.includes(type)) return { cls: 'non_retryable' };
  if (type === 'ThrottledError') return { cls: 'throttled', ...ra };
  return { cls: 'retryable' };
}

/**
 * Converts a handler error to the ApplicationFailure Temporal's retry machinery acts on:
 * non-retryable → `nonRetryable: true`; throttled → `nextRetryDelay` from the throttled schedule
 * (or `Retry-After`); retryable → the activity RetryPolicy's own schedule.
 */
export function toFailure(task: CompiledTask, err: unknown, attempt: number): ApplicationFailure {
  const { cls, retryAfterMs } = classifyError(task, err);
  const message = err instanceof Error ? err.message : String(err);
  const detail: FailureDetail = { class: cls, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  const cause = err instanceof Error ? err : undefined;
  const base = { type: errorType(err), message, details: [detail], ...(cause ? { cause } : {}) };
  if (cls === 'non_retryable') return ApplicationFailure.create({ ...base, nonRetryable: true });
  if (cls === 'throttled') {
    return ApplicationFailure.create({
      ...base,
      nextRetryDelay: throttledDelayMs(task.compiledRetry.throttled, attempt, retryAfterMs),
    });
  }
  return ApplicationFailure.create(base);
}
