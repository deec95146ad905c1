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

/**
 * `patched()` id of the concurrency permit taken by `executeTask` itself (an update from the pool
 * process before the handler, a release signal after it) instead of by the workflow's two local
 * activities around the schedule. Histories recorded before replay the local activities.
 */
export const FLOW_PERMIT_IN_ACTIVITY_PATCH = 'tideway.flow-permit-in-activity';

/**
 * `patched()` id of a `queue`-mode rate limiter that paces on a fixed schedule of slots, one every
 * `per / limit`, granting every slot already due when it wakes. Without it a limiter granted one
 * permit per wake-up, and since the server fires timers at about one-second granularity, a limit
 * above 60/min was held to about 60/min. Histories recorded before pace from the last grant.
 */
export const RATE_SCHEDULE_PATCH = 'tideway.rate-schedule';

/** Seqs of one activity schedule: `scheduleSeq * SEQ_PER_SCHEDULE + attempt` (ascending across schedules). */
export const SEQ_PER_SCHEDULE = 1_000_000;

/** The concurrency permit `executeTask` takes for its attempt (runTask passes it with the request). */
export interface AttemptPermit {
  limiterId: string;
  type: string;
  key: string;
  limit: number;
  priority: number;
  /** This schedule's number: attempt n asks with seq `schedule * SEQ_PER_SCHEDULE + n`. */
  schedule: number;
  /** A permit the workflow already holds (granted while it waited): attempt 1 uses it as is. */
  heldSeq?: number;
}

/** What `executeTask` returns when it was given a permit to take. */
export type PermitAttemptResult =
  /** The handler ran; `released` is false when the release could not be sent (the workflow sends it). */
  | { permit: 'ran'; result: unknown; released: boolean }
  /**
   * The key was full: the request waits at the limiter (`reply` absent: it went by signal).
   * `attempt` is the schedule's attempt that asked (the ones before it ran, perhaps on a dead pool).
   */
  | { permit: 'queued'; seq: number; reply?: PermitReply; attempt: number };

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
}

/** The limiter's answer. `running` is the permits held now (concurrency) or used in the window (rate). */
export type PermitReply =
  | { outcome: 'granted'; running: number; limit: number }
  | { outcome: 'queued'; position: number; running: number; limit: number }
  | { outcome: 'dropped'; running: number; limit: number };

/** Sent by the limiter to the asking task: its answer, and later the grant of a queued request. */
export type PermitAnswer = PermitReply & { limiterId: string; seq: number };

/** Sent by a task to give its permit back, or to withdraw a queued request (TTL, pause, cancel). */
export interface PermitRelease {
  holder: string;
  seq: number;
}

/** What the limiter carries across continue-as-new, and its first run's input. */
export interface FlowLimiterInput {
  kind: FlowKind;
  type: string;
  key: string;
  limit: number;
  perMs?: number;
  held?: { holder: string; seq: number; at: number }[];
  waiting?: { holder: string; seq: number; priority: number; at: number }[];
  /** Concurrency limiters: pool processes' leases (`until` in epoch ms). */
  leases?: { holder: string; count: number; until: number }[];
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
  /** Permits pool processes hold as leases (counted in `running`; some may be idle). */
  leased?: number;
}

/**
 * A pool process's lease on a concurrency key: up to `want` permits it hands to its own attempts
 * with no round trip each, renewed every third of `ttlMs` (the limiter drops a lease not renewed in
 * time). `using` is how many of them run now: a renewal never takes those back.
 */
export interface LeaseRequest {
  /** The process's lease ID (`lease:<host>:<pid>:<nonce>`), unique per process. */
  holder: string;
  want: number;
  using: number;
  ttlMs: number;
  limit: number;
}
export interface LeaseReply {
  /** Permits the lease holds now (0: none; ask per attempt). */
  count: number;
}

/** A lease is at most this share of a key's limit (1/4), so small limits keep exact per-task order. */
export const LEASE_SHARE = 4;
/** Most permits one lease may hold on a key of `limit` (0: the key is never leased). */
export const leaseCap = (limit: number): number => Math.floor(limit / LEASE_SHARE);

export const acquirePermitSignal = defineSignal<[PermitRequest]>('tideway.flow.acquire');
/** The same request as an update: the answer (granted, queued, dropped) comes back in the call. */
export const acquirePermitUpdate = defineUpdate<PermitReply, [PermitRequest]>('tideway.flow.acquireNow');
export const leasePermitsUpdate = defineUpdate<LeaseReply, [LeaseRequest]>('tideway.flow.lease');
export const releasePermitSignal = defineSignal<[PermitRelease]>('tideway.flow.release');
export const permitAnswerSignal = defineSignal<[PermitAnswer]>('tideway.flow.answer');
export const flowStateQuery = defineQuery<FlowLimiterState>('flowState');

/** Human text of a wait, as `state.flow.waiting.reason` says it. */
export function waitReason(kind: FlowKind, key: string, running: number, limit: number, perMs?: number): string {
  if (kind === 'concurrency') return `waiting for a concurrency permit: key ${key}, ${running}/${limit} running`;
  const per = perMs !== undefined ? ` per ${perMs % 60_000 === 0 ? `${perMs / 60_000}m` : `${perMs / 1000}s`}` : '';
  return `waiting for a rate permit: key ${key}, ${running}/${limit}${per} used`;
}
