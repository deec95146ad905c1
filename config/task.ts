import type { z } from 'zod';
import type { Duration } from './duration';
import type { Lane } from './names';
import type { RetryPolicyInput } from './retry';
import type { ScheduleEntryInput } from './schedule';

/** What a handler gets besides its input. */
export interface TaskContext {
  /** The task ID (= workflow ID). */
  readonly taskId: string;
  /** 1-based attempt number of this run of the handler. */
  readonly attempt: number;
  /** The lane the task runs in. */
  readonly lane: Lane;
  /** The tenant that submitted the task. */
  readonly tenant: string;
  /** Aborted when the task is cancelled (delivered through heartbeats) or the worker shuts down. */
  readonly signal: AbortSignal;
  /** Records progress and keeps the attempt alive; call it in long loops. */
  heartbeat(details?: unknown): void;
  /** Progress recorded by the previous attempt's last heartbeat, if any. */
  readonly lastHeartbeat: unknown;
}

export type TaskHandler<I, O> = (input: I, ctx: TaskContext) => Promise<O>;

export interface TimeoutsInput {
  /** Longest one attempt may run. @default '5m' */
  startToClose?: Duration;
  /** An attempt that sends no heartbeat for this long is considered lost and retried. @default '30s' */
  heartbeat?: Duration;
}

/** One task type as declared in the catalog. */
export interface TaskDefinition<N extends string = string, S extends z.ZodType = z.ZodType, O = unknown> {
  /** `group.name`, e.g. `media.thumbnail`. */
  name: N;
  /** Service group: the failure domain and capacity the type belongs to. */
  group: string;
  /** Lane used when a submit names none. @default 'normal' */
  lane?: Lane;
  /** Schema the input must pass before anything starts. */
  input: S;
  timeouts?: TimeoutsInput;
  retry?: RetryPolicyInput;
  /** A task not started by then ends `expired` without running. */
  ttl?: Duration;
  /** How long a dead-lettered task waits for `redrive`/`discard` before it closes as `failed`. @default '7d' */
  deadLetterRetention?: Duration;
  /** A task still waiting in its lane after this long moves up one lane (low → normal → high). */
  promoteAfter?: Duration;
  /** Cron schedules that submit this type (Temporal Schedules underneath; the scaler forecasts them). */
  schedules?: ScheduleEntryInput[];
  /** One-line description shown by `tideway types`. */
  description?: string;
  /**
   * Schema of the handler's result: types the result for clients whose handler lives in a group's
   * handler module, and is checked when the handler returns (a mismatch fails the attempt for good).
   */
  output?: z.ZodType<O>;
  /**
   * Inline handler. Leave it out to keep handler code out of the catalog: the config's
   * `handlers[group]` module provides it, loaded only by that group's pools.
   */
  handler?: TaskHandler<z.output<S>, O>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTaskDefinition = TaskDefinition<string, z.ZodType, any>;

/** Declares a task type; the literal name and schema types flow into the typed client. */
export function defineTask<const N extends string, S extends z.ZodType, O>(def: TaskDefinition<N, S, O>): TaskDefinition<N, S, O> {
  return def;
}

/** Type-level helpers: the names, inputs and outputs of a list of task definitions. */
export type TaskName<T extends readonly AnyTaskDefinition[]> = T[number]['name'];
/** The definition of `K`; with an untyped list (names are plain strings) any definition. */
export type TaskOf<T extends readonly AnyTaskDefinition[], K extends TaskName<T>> = string extends T[number]['name']
  ? T[number]
  : Extract<T[number], { name: K }>;
export type TaskInput<T extends readonly AnyTaskDefinition[], K extends TaskName<T>> = z.input<TaskOf<T, K>['input']>;
export type TaskOutput<T extends readonly AnyTaskDefinition[], K extends TaskName<T>> = string extends T[number]['name']
  ? unknown
  : TaskOf<T, K> extends TaskDefinition<string, z.ZodType, infer O>
    ? O
    : never;
