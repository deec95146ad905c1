import { parseDuration, type Duration } from '../config/duration';
import { TidewayError } from '../config/errors';

/**
 * Error classes handlers throw to say how a failure should be retried. Anything else a handler
 * throws counts as retryable unless the type's `classify` says otherwise.
 */

/** Thrown by a handler when retrying cannot help (bad argument, permission denied): no retry. */
export class NonRetryableError extends TidewayError {
  readonly type: string = 'NonRetryableError';
}

/** Thrown by a handler when a downstream asked it to slow down (HTTP 429/503); retried on the throttled schedule. */
export class ThrottledError extends TidewayError {
  readonly type: string = 'ThrottledError';
  /** Delay the downstream asked for, in ms (from `Retry-After`), if any. */
  readonly retryAfterMs: number | undefined;
  constructor(message = 'throttled by downstream', options: { retryAfter?: Duration; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfter === undefined ? undefined : parseDuration(options.retryAfter);
  }
}

/** Thrown by a handler to mark a failure explicitly retryable (the default for other errors). */
export class RetryableError extends TidewayError {
  readonly type: string = 'RetryableError';
}

/** The minimal shape of a fetch `Response` the classifier needs. */
export interface ResponseLike {
  status: number;
  statusText?: string;
  headers?: { get(name: string): string | null };
  url?: string;
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into ms from `now`. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Turns a non-OK fetch response into the error class it deserves and throws it: 429/503 →
 * `ThrottledError` (with `Retry-After`), other 4xx → `NonRetryableError`, 5xx → `RetryableError`.
 * Returns the response unchanged when it is OK, so `await throwForResponse(await fetch(url))` reads well.
 */
export function throwForResponse<R extends ResponseLike>(res: R): R {
  if (res.status < 400) return res;
  const what = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${res.url ? ` from ${res.url}` : ''}`;
  if (res.status === 429 || res.status === 503) {
    const retryAfterMs = parseRetryAfter(res.headers?.get('retry-after'));
    throw new ThrottledError(what, retryAfterMs === undefined ? {} : { retryAfter: retryAfterMs });
  }
  if (res.status < 500) throw new NonRetryableError(what);
  throw new RetryableError(what);
}
