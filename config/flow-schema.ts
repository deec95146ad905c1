import { z } from 'zod';
import { durationMs, type Duration } from './duration';
import { ValidationError } from './errors';
import { MAX_FLOW_KEY_LENGTH, RATE_MODES, type RateMode, type ResolvedFlow } from './flow';
import type { Lane } from './names';

/** What a flow key function gets besides the input (it runs at submit, before the task exists). */
export interface FlowKeyContext {
  readonly type: string;
  readonly tenant: string;
  readonly lane: Lane;
}

/** Computes a task's flow key from its validated input: per tenant, per user, per account… */
export type FlowKeyFn<I = unknown> = (input: I, ctx: FlowKeyContext) => string;

/** `concurrency` of a task type: at most `limit` attempts of one key run at once, across every replica. */
export interface ConcurrencyInput<I = unknown> {
  /** The key of a task's input (method syntax: a typed key function fits the catalog's untyped list). */
  key(input: I, ctx: FlowKeyContext): string;
  /** `1` makes each key a serial lane. */
  limit: number;
}

/** `rateLimit` of a task type: at most `limit` tasks of one key start per `per`, across every replica. */
export interface RateLimitInput<I = unknown> {
  key(input: I, ctx: FlowKeyContext): string;
  limit: number;
  /** The window, e.g. `'1m'`. */
  per: Duration;
  /** Over the limit: wait for the window (`queue`) or end as `throttled_dropped` (`drop`). @default 'queue' */
  mode?: RateMode;
}

const keyFn = z.custom<FlowKeyFn>((v) => typeof v === 'function', { message: 'must be a function (input, ctx) => string' });

export const concurrencySchema = z.object({ key: keyFn, limit: z.number().int().min(1).max(10_000) }).strict();

export const rateLimitSchema = z
  .object({
    key: keyFn,
    limit: z.number().int().min(1).max(100_000),
    per: durationMs.refine((ms) => ms >= 1_000, 'per must be at least 1s'),
    mode: z.enum(RATE_MODES).default('queue'),
  })
  .strict();

/** A type's flow control after validation (key functions kept; the catalog is not workflow code). */
export interface CompiledFlow {
  concurrency?: { key: FlowKeyFn; limit: number };
  rate?: { key: FlowKeyFn; limit: number; perMs: number; mode: RateMode };
}

function keyOf(fn: FlowKeyFn, input: unknown, ctx: FlowKeyContext, field: string): string {
  let key: unknown;
  try {
    key = fn(input, ctx);
  } catch (err) {
    throw new ValidationError([{ path: `${field}.key`, message: `the key function threw: ${(err as Error)?.message ?? String(err)}` }]);
  }
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_FLOW_KEY_LENGTH || /[\s]/.test(key)) {
    throw new ValidationError([
      {
        path: `${field}.key`,
        message: `the key function must return 1-${MAX_FLOW_KEY_LENGTH} characters without spaces, got ${JSON.stringify(key)}`,
      },
    ]);
  }
  return key;
}

/**
 * Runs a type's key functions on a validated input: at submit (TaskClient) or in the control
 * worker's resolve step (plain clients), never in workflow code. Throws `ValidationError` when a
 * key function throws or returns no usable key.
 */
export function resolveFlow(flow: CompiledFlow | undefined, input: unknown, ctx: FlowKeyContext): ResolvedFlow | undefined {
  if (!flow) return undefined;
  const out: ResolvedFlow = {};
  if (flow.concurrency) out.concurrency = { key: keyOf(flow.concurrency.key, input, ctx, 'concurrency'), limit: flow.concurrency.limit };
  if (flow.rate) {
    const { limit, perMs, mode } = flow.rate;
    out.rate = { key: keyOf(flow.rate.key, input, ctx, 'rateLimit'), limit, perMs, mode };
  }
  return out;
}
