import { z } from 'zod';
import { durationMs, type Duration } from './duration';

/**
 * Singleton and idempotency modes of a task ID (README "Flow control"): what a submit does when a
 * task with its ID already exists. Declared per task type in the catalog, overridable per submit.
 */
export const ON_CONFLICT_MODES = ['skip', 'cancel_running', 'replace_queued'] as const;
export type OnConflict = (typeof ON_CONFLICT_MODES)[number];

/** What the catalog and a submit may say. */
export interface ConflictInput {
  /**
   * A task with this ID is open (scheduled, queued, running, retrying, paused, dead-lettered):
   * - `skip`: start nothing, return the existing task (`duplicate: true`);
   * - `cancel_running`: cancel the existing task (whatever it does), wait for it to close, start the new one;
   * - `replace_queued`: if the existing task has not started its handler yet, cancel it and start the
   *   new one; if it has, behave as `skip`.
   * @default 'skip'
   */
  onConflict?: OnConflict;
  /**
   * A closed task with this ID blocks a new one for this long after it closed, even when it
   * succeeded; afterwards the ID may be used again. Bounded by the namespace retention (a closed run
   * is gone after it, so the ID is free). @default unset: a succeeded ID is never run again, a failed one may be
   */
  dedupeFor?: Duration;
}

/** How long a replacing mode waits for the cancelled task to close before terminating it. */
export const CONFLICT_DEFAULTS = { onConflict: 'skip' as OnConflict, cancelGraceMs: 10_000 } as const;

export const onConflictSchema = z.enum(ON_CONFLICT_MODES);

/** The per-submit override (HTTP body, CLI flags, SubmitOptions). */
export const conflictSubmitSchema = z.object({ onConflict: onConflictSchema.optional(), dedupeFor: durationMs.optional() }).strict();

/** The catalog's `conflict` block. */
export const conflictCatalogSchema = z
  .object({
    onConflict: onConflictSchema.default(CONFLICT_DEFAULTS.onConflict),
    dedupeFor: durationMs.optional(),
    key: z
      .custom<(input: unknown) => string>((v) => typeof v === 'function', { message: 'must be a function (input) => string' })
      .optional(),
  })
  .strict();

/** A task type's conflict settings, compiled (durations in ms). */
export interface CompiledConflict {
  readonly onConflict: OnConflict;
  readonly dedupeForMs?: number;
  readonly key?: (input: unknown) => string;
}

/** The conflict mode of one submit: the submit's override over the type's declaration. */
export function effectiveConflict(
  declared: CompiledConflict | undefined,
  submit: { onConflict?: OnConflict; dedupeForMs?: number },
): { onConflict: OnConflict; dedupeForMs?: number } {
  const dedupeForMs = submit.dedupeForMs ?? declared?.dedupeForMs;
  return {
    onConflict: submit.onConflict ?? declared?.onConflict ?? CONFLICT_DEFAULTS.onConflict,
    ...(dedupeForMs !== undefined ? { dedupeForMs } : {}),
  };
}
