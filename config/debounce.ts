import { createHash } from 'node:crypto';
import { z } from 'zod';
import { durationMs, type Duration } from './duration';

/**
 * Debounce (README "Flow control"): a burst of submits with one key becomes one run, started after
 * `period` of quiet and never later than `maxWait` after the burst's first submit.
 */
export interface DebounceInput<I = never> {
  /** The key submits are grouped by: a function of the input, e.g. `(i) => i.userId`. A submit may name its own. */
  key(input: I): string;
  /** Quiet time after the last submit before the run starts. */
  period: Duration;
  /** The run starts at the latest this long after the window's first submit, however busy. */
  maxWait: Duration;
  /** `true`: the run gets every input of the window as an array, in submit order; `false`: the last one. @default false */
  collect?: boolean;
}

export const DEBOUNCE_DEFAULTS = { collect: false } as const;

export const debounceCatalogSchema = z
  .object({
    key: z.custom<(input: unknown) => string>((v) => typeof v === 'function', { message: 'must be a function (input) => string' }),
    period: durationMs.pipe(z.number().gt(0, 'period must be above 0')),
    maxWait: durationMs.pipe(z.number().gt(0, 'maxWait must be above 0')),
    collect: z.boolean().default(DEBOUNCE_DEFAULTS.collect),
  })
  .strict()
  .refine((d) => d.maxWait >= d.period, { message: 'maxWait must be >= period', path: ['maxWait'] });

/** A per-submit override: a key of its own (a type without `debounce` needs period and maxWait too). */
export const debounceSubmitSchema = z
  .object({
    key: z.string().min(1).max(512),
    period: durationMs.pipe(z.number().gt(0)).optional(),
    maxWait: durationMs.pipe(z.number().gt(0)).optional(),
    collect: z.boolean().optional(),
  })
  .strict();
export type DebounceSubmit = z.input<typeof debounceSubmitSchema>;

export interface CompiledDebounce {
  readonly key: (input: unknown) => string;
  readonly periodMs: number;
  readonly maxWaitMs: number;
  readonly collect: boolean;
}

/** One submit's debounce settings, resolved (plain data: the debounce workflow receives them). */
export interface DebounceSpec {
  key: string;
  periodMs: number;
  maxWaitMs: number;
  collect: boolean;
}

/**
 * A key as it goes into workflow IDs: kept readable when it is short and plain, else hashed (a
 * task ID allows letters, digits and `. _ = + @ -`; `:` separates the parts of a window's ID).
 */
export function keyIdOf(key: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._=+@-]{0,63}$/.test(key) && !key.includes('..')) return key;
  return `h-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}
