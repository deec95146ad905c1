import { z } from 'zod';
import { durationMs, type Duration } from './duration';

/** How a failed attempt should be treated. */
export const ERROR_CLASSES = ['retryable', 'throttled', 'non_retryable'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** A per-type classifier mapping an error a handler threw (or a library threw for it) to a class. */
export type Classifier = (err: unknown) => ErrorClass | undefined;

export interface BackoffInput {
  /** Delay before the first retry of this class. */
  initial?: Duration;
  /** Multiplier applied to the delay after each attempt. */
  backoff?: number;
  /** Largest delay between two attempts. */
  max?: Duration;
}

/** The typed retry policy a catalog entry declares (see docs/ARCHITECTURE.md). */
export interface RetryPolicyInput {
  /** Attempts across all classes together, the first one included. @default 8 */
  maxAttempts?: number;
  /** Schedule for ordinary failures. @default { initial: '1s', backoff: 2, max: '1m' } */
  retryable?: BackoffInput;
  /** Schedule for throttled failures (429-like). @default { initial: '10s', backoff: 3, max: '10m', honorRetryAfter: true } */
  throttled?: BackoffInput & { honorRetryAfter?: boolean };
  /** Error names/types that never retry. @default ['ValidationError', 'PermissionDenied'] */
  nonRetryable?: string[];
  /** Optional classifier for library errors (an HTTP 429 → throttled). */
  classify?: Classifier;
}

export const RETRY_DEFAULTS = {
  maxAttempts: 8,
  retryable: { initial: '1s', backoff: 2, max: '1m' },
  throttled: { initial: '10s', backoff: 3, max: '10m', honorRetryAfter: true },
  nonRetryable: ['ValidationError', 'PermissionDenied'],
} as const;

const backoffSchema = (d: { initial: string; backoff: number; max: string }) =>
  z
    .object({
      initial: durationMs.prefault(d.initial),
      backoff: z.number().min(1, 'backoff must be >= 1').max(100).default(d.backoff),
      max: durationMs.prefault(d.max),
    })
    .strict()
    .refine((b) => b.max >= b.initial, { message: 'max must be >= initial', path: ['max'] });

/** zod schema for the policy; its output is the compiled form with durations in ms. */
export const retryPolicySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(1000).default(RETRY_DEFAULTS.maxAttempts),
    retryable: backoffSchema(RETRY_DEFAULTS.retryable).default(() => ({
      initial: 1_000,
      backoff: RETRY_DEFAULTS.retryable.backoff,
      max: 60_000,
    })),
    throttled: backoffSchema(RETRY_DEFAULTS.throttled)
      .and(z.object({ honorRetryAfter: z.boolean().default(true) }))
      .default(() => ({ initial: 10_000, backoff: RETRY_DEFAULTS.throttled.backoff, max: 600_000, honorRetryAfter: true })),
    nonRetryable: z.array(z.string().min(1)).default(() => [...RETRY_DEFAULTS.nonRetryable]),
    classify: z.custom<Classifier>((v) => typeof v === 'function', { message: 'classify must be a function' }).optional(),
  })
  .strict();

export type RetryPolicy = z.output<typeof retryPolicySchema>;

/** The policy compiled to plain data: what crosses into workflow code (no functions). */
export interface CompiledRetry {
  maxAttempts: number;
  retryable: { initialMs: number; backoff: number; maxMs: number };
  throttled: { initialMs: number; backoff: number; maxMs: number; honorRetryAfter: boolean };
  nonRetryable: string[];
}

export function compileRetry(p: RetryPolicy): CompiledRetry {
  return {
    maxAttempts: p.maxAttempts,
    retryable: { initialMs: p.retryable.initial, backoff: p.retryable.backoff, maxMs: p.retryable.max },
    throttled: {
      initialMs: p.throttled.initial,
      backoff: p.throttled.backoff,
      maxMs: p.throttled.max,
      honorRetryAfter: p.throttled.honorRetryAfter,
    },
    nonRetryable: [...p.nonRetryable],
  };
}

/**
 * Delay before the next attempt after a throttled failure on attempt `attempt` (1-based):
 * the server's `Retry-After` when the policy honours it, else the throttled backoff schedule.
 */
export function throttledDelayMs(policy: CompiledRetry['throttled'], attempt: number, retryAfterMs?: number): number {
  if (policy.honorRetryAfter && retryAfterMs !== undefined && retryAfterMs >= 0) return retryAfterMs;
  const raw = policy.initialMs * Math.pow(policy.backoff, Math.max(0, attempt - 1));
  return Math.min(policy.maxMs, raw);
}

/**
 * The least time Temporal waits before it runs an activity retry. The history service moves every
 * timer task that would fire sooner than now + `history.timerProcessorMaxTimeShift` (default 1 s) to
 * that time (server 1.29: service/history/shard/task_key_generator.go, task_key_manager.go), and an
 * activity retry is such a timer. So a retry delay under 1 s runs after about 1 s; a longer one is kept
 * to the millisecond. Measured on the dev server by test/integration/retry-floor.test.ts.
 */
export const TEMPORAL_RETRY_FLOOR_MS = 1_000;

/** Delays (ms) before retries 1..n of a backoff schedule as written, before Temporal's floor. */
export function declaredDelaysMs(b: { initialMs: number; backoff: number; maxMs: number }, n: number): number[] {
  return Array.from({ length: Math.max(0, n) }, (_, i) => Math.min(b.maxMs, b.initialMs * Math.pow(b.backoff, i)));
}

/** The delays Temporal actually waits: each declared delay, but no less than the retry floor. */
export function effectiveDelaysMs(b: { initialMs: number; backoff: number; maxMs: number }, n: number): number[] {
  return declaredDelaysMs(b, n).map((d) => Math.max(TEMPORAL_RETRY_FLOOR_MS, d));
}

/** "0.2s" / "1.6s" / "45s": a delay in seconds, short. */
function secs(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))}s`;
}

/**
 * A warning for each backoff class whose schedule asks for sub-second delays, saying the delays the
 * server will really wait (for the first `maxAttempts - 1` retries, at most 4 shown). Empty when none.
 */
export function subSecondRetryWarnings(p: CompiledRetry): string[] {
  const out: string[] = [];
  const n = Math.min(4, p.maxAttempts - 1);
  for (const cls of ['retryable', 'throttled'] as const) {
    const declared = declaredDelaysMs(p[cls], n);
    if (!declared.some((d) => d < TEMPORAL_RETRY_FLOOR_MS)) continue;
    out.push(
      `retry.${cls}: delays under 1s are not kept; Temporal waits at least ~1s before a retry (history.timerProcessorMaxTimeShift), ` +
        `so ${declared.map(secs).join(', ')} run as ~${effectiveDelaysMs(p[cls], n).map(secs).join(', ')}`,
    );
  }
  return out;
}
