/**
 * The messages of the debounce workflow (workflows/debounce-task.ts), defined once for both sides.
 * Imported by workflow code: only @temporalio/workflow's definitions and types.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { TaskEnvelope } from './envelope';

/** One submit into a debounce window (the signal of signal-with-start). */
export interface DebouncedSubmit {
  /** Chosen by the submitter, so it can ask which window took its submit. */
  submitId: string;
  /** The envelope of this submit (validated by the submitter against the catalog). */
  envelope: TaskEnvelope;
  /** Fairness weight of the submitter's plan, if any. */
  fairnessWeight?: number;
  /** Submitter's clock, for display only. */
  at: number;
}

/** What the collector says about its window (query `debounce`). */
export interface DebounceView {
  /** The task ID the window's run will have. */
  windowId: string;
  /** The task ID of the next window (submits that arrive after this one closed go there). */
  nextWindowId: string;
  key: string;
  submits: number;
  /** ISO times: first and last submit of the window, the earliest and latest start. */
  firstAt?: string;
  lastAt?: string;
  startsAt?: string;
  latestAt?: string;
  /** `collecting` until the window closes, then `starting` while its run is started. */
  phase: 'collecting' | 'starting';
  /** Submits already waiting for the next window. */
  nextSubmits: number;
  /** The window the query's submit ID landed in, when one was asked about. */
  windowOfSubmit?: string;
}

export const DEBOUNCE_MESSAGES = {
  submitSignal: 'tideway.debounceSubmit',
  viewQuery: 'debounce',
} as const;

export const debounceSubmitSignal = defineSignal<[DebouncedSubmit]>(DEBOUNCE_MESSAGES.submitSignal);
export const debounceViewQuery = defineQuery<DebounceView, [string?]>(DEBOUNCE_MESSAGES.viewQuery);
