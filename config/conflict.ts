import { z } from 'zod';

/**
 * Singleton and idempotency modes of a task ID (README "Flow control"): what a submit does when a
 * task with its ID already exists. Declared per task type in the catalog (`onConflict`,
 * `dedupeFor`, `singletonKey`), overridable per submit; applied by api/flow-submit.ts.
 * - `skip`: start nothing, return the existing task (`duplicate: true`);
 * - `cancel_running`: cancel the open task, wait for it to close, start the new one;
 * - `replace_queued`: as `cancel_running` while the open task's handler has not started, else `skip`.
 */
export const ON_CONFLICT_MODES = ['skip', 'cancel_running', 'replace_queued'] as const;
export type OnConflict = (typeof ON_CONFLICT_MODES)[number];

/** How long a replacing mode waits for the cancelled task to close before terminating it. */
export const CONFLICT_DEFAULTS = { onConflict: 'skip' as OnConflict, cancelGraceMs: 10_000 } as const;

export const onConflictSchema = z.enum(ON_CONFLICT_MODES);

/** A task type's conflict settings, compiled (durations in ms). */
export interface CompiledConflict {
  readonly onConflict: OnConflict;
  readonly dedupeForMs?: number;
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
