/**
 * The messages of `runTask`, defined once: the workflow sets their handlers, every client sends them
 * by these definitions (TaskClient, the pool activity, HTTP batches), so a name or an argument type
 * cannot differ between the two sides. The names are a public contract (plain Temporal clients and
 * batch jobs send them): renaming one would leave running tasks deaf to it. At the end: the
 * admission registry's messages (workflows/admission-registry.ts).
 *
 * This module is imported by workflow code: only @temporalio/workflow's definitions, names and types.
 */
import { defineQuery, defineSignal, defineUpdate, type Sinks } from '@temporalio/workflow';
import type { TaskEnvelope } from './envelope';
import type { Lane } from './names';
import type { TaskError, TaskState } from './task-state';

/** Query, signal and update names of `runTask`. */
export const MESSAGES = {
  stateQuery: 'state',
  attemptStartedSignal: 'tideway.attemptStarted',
  attemptFailedSignal: 'tideway.attemptFailed',
  /** Operator signals (signals, not updates, so Temporal batch operations can send them). */
  pauseSignal: 'pause',
  resumeSignal: 'resume',
  redriveSignal: 'redrive',
  discardSignal: 'discard',
  /** Sent by a shard task to its batch when it dead-letters, so the batch does not wait on it. */
  shardDeadLetteredSignal: 'tideway.shardDeadLettered',
} as const;

/** A shard task that failed for good and waits in the dead letter: its batch counts it failed. */
export interface ShardDeadLettered {
  taskId: string;
  error: Omit<TaskError, 'attempt'> & { attempt?: number };
}

/** Sent by the pool activity when an attempt starts, so `state` and `TaskStatus` say `running`. */
export interface AttemptStarted {
  attempt: number;
  at: number;
}

/** Sent by the pool activity when an attempt fails, so `state.lastError` is current while retrying. */
export interface AttemptFailed {
  attempt: number;
  at: number;
  error: Omit<TaskError, 'attempt'>;
}

/** Argument of the `redrive` signal. */
export interface RedriveRequest {
  /** Run on another lane from now on. */
  lane?: Lane;
}

export const stateQuery = defineQuery<TaskState>(MESSAGES.stateQuery);
export const attemptStartedSignal = defineSignal<[AttemptStarted]>(MESSAGES.attemptStartedSignal);
export const attemptFailedSignal = defineSignal<[AttemptFailed]>(MESSAGES.attemptFailedSignal);
export const pauseSignal = defineSignal(MESSAGES.pauseSignal);
export const resumeSignal = defineSignal(MESSAGES.resumeSignal);
export const redriveSignal = defineSignal<[RedriveRequest?]>(MESSAGES.redriveSignal);
export const discardSignal = defineSignal(MESSAGES.discardSignal);

/**
 * Sink the control process offers `runTask` (a call out of the workflow sandbox into the worker's
 * own process, never made on replay): how long a task waited between its start and its first
 * workflow task. For the high lane this is the part of its queue wait that the control queue and
 * the server add, measured where it happens; the control process's admission gate steers by it.
 */
export interface TidewaySinks extends Sinks {
  admission: {
    firstTaskWait(lane: Lane, ms: number): void;
  };
}
export const shardDeadLetteredSignal = defineSignal<[ShardDeadLettered]>(MESSAGES.shardDeadLetteredSignal);

// ── Debounce (workflows/debounce-task.ts; README "Flow control") ──

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

// ── The admission registry (workflows/admission-registry.ts) ──
// Processes with a fixed lane admission budget of cluster scope check in with one registry per app
// (ID `admissionRegistryId(app)`, on the control queue) and learn how many processes share their
// budget; each admits budget / members (admission/cluster-share.ts).

/** One process's check-in: who it is, which budget it shares, and how long it counts without another. */
export interface CheckIn {
  /** Unique per process (host:pid:random). */
  member: string;
  /**
   * The budget's text as TIDEWAY_ADMISSION writes it (`low=8/s,burst=8`): processes share a budget
   * only with those configured alike (a test's one-off client with its own budget counts apart).
   */
  budget: string;
  /** The member drops out this long after its last check-in (a process that died). */
  ttlMs: number;
}

/** What a check-in (or a leave) answers. */
export interface CheckInAnswer {
  /** Live members sharing the caller's budget, the caller included after a check-in. */
  members: number;
  /**
   * Ms until the next of those members expires (undefined: none will before the caller's next
   * check-in could see it): the caller checks in again then, so a dead member's share comes back
   * within its TTL rather than a check-in interval later.
   */
  nextExpiryInMs: number | undefined;
}

/** The registry's state, carried across continue-as-new: member → budget and expiry (workflow time, ms). */
export interface RegistryState {
  members: { member: string; budget: string; expiresAt: number }[];
}

/** Join or renew: the member counts until `now + ttlMs`. */
export const admissionCheckInUpdate = defineUpdate<CheckInAnswer, [CheckIn]>('admissionCheckIn');
/** Leave at once (a process going idle or shutting down), so the others get its share without waiting for the TTL. */
export const admissionLeaveUpdate = defineUpdate<CheckInAnswer, [{ member: string; budget: string }]>('admissionLeave');
/** The live members (for tests and operators). */
export const admissionRegistryQuery = defineQuery<RegistryState>('admissionRegistry');
