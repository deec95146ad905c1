/**
 * Flow control per key: the contract between `runTask` and the per-key limiter workflow
 * (`flowLimiter`), defined once. Imported by workflow code: only @temporalio/workflow's
 * definitions, names and types (the catalog's zod schema for `concurrency`/`rateLimit` lives in
 * config/flow-schema.ts).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** Workflow type of the per-(task type, key) limiter. */
export const FLOW_LIMITER_WORKFLOW = 'flowLimiter';

/**
 * Local activity (control worker) that asks a limiter for a permit: update-with-start, answered in
 * the same call; signal-with-start (answer by signal) when the update cannot be used.
 */
export const REQUEST_FLOW_PERMIT_ACTIVITY = 'requestFlowPermit';

/** Local activity (control worker) that gives a permit back by signal. */
export const RELEASE_FLOW_PERMIT_ACTIVITY = 'releaseFlowPermit';

/**
 * `patched()` id of the release through a local activity (the workflow task goes on at once)
 * instead of a signal-external command (whose delivery costs the task another workflow task).
 */
export const FLOW_RELEASE_PATCH = 'tideway.flow-release-local';

/** `patched()` id of `runTask`'s flow-control steps (histories recorded before it replay without them). */
export const FLOW_PATCH = 'tideway.flow-keys';

export const FLOW_KINDS = ['concurrency', 'rate'] as const;
export type FlowKind = (typeof FLOW_KINDS)[number];

export const RATE_MODES = ['queue', 'drop'] as const;
export type RateMode = (typeof RATE_MODES)[number];

/** Longest flow key (Temporal's fairness keys are at most 64 bytes; the same bound keeps IDs short). */
export const MAX_FLOW_KEY_LENGTH = 64;

/** A type's flow control for one task, resolved where the input is known (the key function ran). */
export interface ResolvedFlow {
  concurrency?: { key: string; limit: number };
  rate?: { key: string; limit: number; perMs: number; mode: RateMode };
}

/**
 * Workflow ID of the limiter of (kind, task type, key): `tideway[.<app>].flow.<kind>.<type>.<key>`.
 * One per key and type, so one type's limit never counts another type's tasks.
 */
export function flowLimiterId(kind: FlowKind, type: string, key: string, app?: string): string {
  return `${app ? `tideway.${app}` : 'tideway'}.flow.${kind}.${type}.${key}`;
}

/** What a task asks a limiter for (the update's argument). */
export interface PermitRequest {
  /** The asking task's workflow ID: the limiter signals it the grant. */
  holder: string;
  /** Distinguishes this request from the same task's earlier ones (a re-acquire after pause). */
  seq: number;
  /** Lane priority key (lower first): waiting tasks keep their lane's order. */
  priority: number;
  /** The type's current limit (a catalog change reaches a running limiter with the next request). */
  limit: number;
  /** Rate limiters: the window. */
  perMs?: number;
  /** Rate limiters: over the limit, wait or be dropped. */
  mode?: RateMode;
  /**
   * Asked by the submitting client before the task's workflow started (TaskClient). When the holder
   * already holds a permit (a duplicate submit of a running task), the answer is `granted` and not
   * `fresh`, and the holder's permit stays as it is.
   */
  atSubmit?: boolean;
}

/** The limiter's answer. `running` is the permits held now (concurrency) or used in the window (rate). */
export type PermitReply =
  | {
      outcome: 'granted';
      running: number;
      limit: number;
      /** This request created the permit (a submit that does not start its task gives a fresh one back). */
      fresh?: boolean;
      /**
       * Others wait (or soon may) for this key: give the permit back as soon as the schedule ends.
       * Unset, a task that completes right after its schedule need not: the limiter takes back the
       * permit of a closed task when it needs room (it probes its holders; see `PermitReclaim`).
       */
      releaseAtEnd?: boolean;
      /** When it was granted (limiter time): a task started long after does not trust a grant made at submit. */
      at?: number;
    }
  | { outcome: 'queued'; position: number; running: number; limit: number; fresh?: boolean }
  | { outcome: 'dropped'; running: number; limit: number };

/** Sent by the limiter to the asking task: its answer, and later the grant of a queued request. */
export type PermitAnswer = PermitReply & { limiterId: string; seq: number };

/**
 * Sent by a limiter that needs room to each holder it has not asked yet. Sending it to a closed task
 * fails, and the limiter takes that permit back; a live task gives the permit back now if its
 * schedule already ended, and otherwise (when `contended`) as soon as it ends.
 */
export interface PermitReclaim {
  limiterId: string;
  seq: number;
  /** Tasks are waiting for this key. */
  contended: boolean;
}

/** A permit TaskClient asked for before the start (`ClientResolvedTask.permits`): the task uses its answer. */
export interface SubmitPermit {
  limiterId: string;
  seq: number;
  reply: PermitReply;
}

/** The sequence number of a permit asked for at submit; the task's own requests count on from it. */
export const SUBMIT_PERMIT_SEQ = 1;

/**
 * `patched()` id of lazy release: a task that completes right after its schedule leaves a permit
 * granted without contention for the limiter to take back (no release round trip).
 */
export const FLOW_LAZY_RELEASE_PATCH = 'tideway.flow-lazy-release';

/** Sent by a task to give its permit back, or to withdraw a queued request (TTL, pause, cancel). */
export interface PermitRelease {
  holder: string;
  seq: number;
}

/** A permit a limiter counts as held. */
export interface HeldPermit {
  holder: string;
  seq: number;
  at: number;
  /** The holder was told to give it back when its schedule ends (granted under contention, or asked since). */
  told?: boolean;
  /** Granted at submit: the holder's workflow may not exist yet (see START_GRACE_MS). */
  atSubmit?: true;
}

/**
 * A permit granted at submit is not taken back for a failed signal (its task may not have started
 * yet) until this long after the grant; a task that started later than half of it after the grant
 * asks again instead of trusting it, so no task runs on a permit its limiter took back.
 */
export const START_GRACE_MS = 10_000;

/**
 * Lazy release applies to limits of at least LAZY_MIN_LIMIT, while at most LAZY_SHARE of the limit
 * is held: tighter than that, every permit is given back at its end (a key that is often full must
 * not wait for its limiter to take permits back).
 */
export const LAZY_MIN_LIMIT = 10;
export const LAZY_SHARE = 0.5;

/** What the limiter carries across continue-as-new, and its first run's input. */
export interface FlowLimiterInput {
  kind: FlowKind;
  type: string;
  key: string;
  limit: number;
  perMs?: number;
  held?: HeldPermit[];
  waiting?: { holder: string; seq: number; priority: number; at: number }[];
  /** Rate limiters: grant times still inside the window. */
  grants?: number[];
}

/** What query `flowState` of a limiter answers (the task route reads it for "why it waits"). */
export interface FlowLimiterState {
  kind: FlowKind;
  type: string;
  key: string;
  limit: number;
  perMs?: number;
  /** Permits held now (concurrency) or granted within the window (rate). */
  running: number;
  holders: string[];
  waiting: number;
}

export const acquirePermitSignal = defineSignal<[PermitRequest]>('tideway.flow.acquire');
/** The same request as an update: the answer (granted, queued, dropped) comes back in the call. */
export const acquirePermitUpdate = defineUpdate<PermitReply, [PermitRequest]>('tideway.flow.acquireNow');
export const releasePermitSignal = defineSignal<[PermitRelease]>('tideway.flow.release');
export const permitAnswerSignal = defineSignal<[PermitAnswer]>('tideway.flow.answer');
export const reclaimPermitSignal = defineSignal<[PermitReclaim]>('tideway.flow.reclaim');
export const flowStateQuery = defineQuery<FlowLimiterState>('flowState');

/** Human text of a wait, as `state.flow.waiting.reason` says it. */
export function waitReason(kind: FlowKind, key: string, running: number, limit: number, perMs?: number): string {
  if (kind === 'concurrency') return `waiting for a concurrency permit: key ${key}, ${running}/${limit} running`;
  const per = perMs !== undefined ? ` per ${perMs % 60_000 === 0 ? `${perMs / 60_000}m` : `${perMs / 1000}s`}` : '';
  return `waiting for a rate permit: key ${key}, ${running}/${limit}${per} used`;
}
