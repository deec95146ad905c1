/**
 * The retry loop HttpTaskClient (and the CLI's direct mode) run every request through: a 429 is
 * retried after its Retry-After, other transient failures only where the caller says the request is
 * safe to repeat. Clock, sleep and randomness are injected so the policy is unit tested without time.
 */

/** What one retry is about, for progress notes ("429 lane_admission: retrying in 2 s (attempt 3)"). */
export interface RetryInfo {
  /** 1 for the first retry, 2 for the second, ... */
  attempt: number;
  /** How long the client waits before the retry, in ms. */
  waitMs: number;
  /** Why: e.g. "429 lane_admission", "503 Unavailable", "connection reset (ECONNRESET)". */
  reason: string;
  /** The request's path, e.g. /v1/tasks:bulk. */
  path: string;
}

export interface RetryOptions {
  /** Give up (throw the last error) when a retry would end later than this after the first try. @default 600000 */
  maxRetryMs?: number;
  /** Called before each retry's wait. */
  onRetry?: (info: RetryInfo) => void;
}

/** What a failed try means: retry after `waitMs` (because of `reason`), or undefined to throw it. */
export type Classify = (err: unknown, attempt: number) => { waitMs: number; reason: string } | undefined;

/** Time, sleep and randomness, injectable for tests. */
export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const realClock: RetryClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  random: Math.random,
};

/** @default for RetryOptions.maxRetryMs: ten minutes. */
export const DEFAULT_MAX_RETRY_MS = 600_000;

/** The wait a 429 asks for: Retry-After seconds (1 s when absent or unreadable) plus up to 10% jitter, at most 250 ms. */
export function retryAfterDelayMs(retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const base =
    retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0 ? retryAfterSeconds * 1000 : 1000;
  return Math.round(base + random() * Math.min(250, Math.max(50, base * 0.1)));
}

/** Exponential backoff for failures that carry no Retry-After: 1 s, 2 s, 4 s, ... at most 30 s, with jitter. */
export function backoffDelayMs(attempt: number, random: () => number = Math.random): number {
  return retryAfterDelayMs(Math.min(30, 2 ** Math.max(0, attempt - 1)), random);
}

/**
 * Runs `attempt` until it succeeds, `classify` says an error is final, or the next retry would end
 * past `maxRetryMs` after the first try; then throws the last error as it was.
 */
export async function withRetry<R>(
  path: string,
  attempt: (n: number) => Promise<R>,
  classify: Classify,
  opts: RetryOptions = {},
  clock: RetryClock = realClock,
): Promise<R> {
  const bound = opts.maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
  const start = clock.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const retry = classify(err, n);
      if (!retry || clock.now() + retry.waitMs - start > bound) throw err;
      opts.onRetry?.({ attempt: n, waitMs: retry.waitMs, reason: retry.reason, path });
      await clock.sleep(retry.waitMs);
    }
  }
}
