import type { z } from 'zod';
import type { OnConflict } from './conflict';
import type { DebounceInput } from './debounce';
import type { Duration } from './duration';
import type { ConcurrencyInput, RateLimitInput } from './flow-schema';
import type { Lane } from './names';
import type { RetryPolicyInput } from './retry';
import type { ScheduleEntryInput } from './schedule';
import type { TaskLogger } from './task-log';

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
  /** This task's log: each line carries the task ID, attempt, type and tenant (`tideway logs <id>`). */
  readonly log: TaskLogger;
  /** The task's tag (its ID and the caller's `tag`), to forward on downstream calls: `fetch(url, { headers: ctx.tag.headers() })`. */
  readonly tag: TaskTag;
}

/** What identifies a task's traffic downstream (a dye mark), so another service can route or isolate it. */
export interface TaskTag {
  readonly taskId: string;
  /** The caller's tag from the submit, if any. */
  readonly tag: string | undefined;
  /**
   * HTTP headers for a downstream call: `x-tideway-task`, `x-tideway-tag` (when set) and, when
   * tracing is on, the W3C `traceparent` of the attempt's span. A fresh object each call.
   */
  headers(): Record<string, string>;
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
  /** A burst of submits with one key becomes one run (README "Flow control", Debounce). */
  debounce?: DebounceInput<z.output<S>>;
  /** What a submit does when a task with its ID is open (README "Flow control", Singleton). @default 'skip' */
  onConflict?: OnConflict;
  /** A closed task's ID is refused for this long after it closed, then free again, even after success. */
  dedupeFor?: Duration;
  /** Derives the task ID (`<type>:<key>`) from the input when a submit names none: one task per key. */
  singletonKey?(input: z.output<S>): string;
  /**
   * At most `limit` attempts of one key (computed from the input at submit) run at once, across every
   * replica of the pool; a task waits for a permit in its lane order and within its TTL.
   */
  concurrency?: ConcurrencyInput<z.output<S>>;
  /** At most `limit` tasks of one key start per `per`; over it they wait (`queue`) or end `throttled_dropped` (`drop`). */
  rateLimit?: RateLimitInput<z.output<S>>;
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
  : TaskOf<T, K> extends { batch: BatchSpec<unknown, unknown, infer O> }
    ? BatchResult<O>
    : TaskOf<T, K> extends TaskDefinition<string, z.ZodType, infer O>
      ? O
      : never;

/** What a shard failing for good does to its batch. */
export type ShardFailurePolicy = 'fail_fast' | 'continue';

/** Defaults of a batch declaration, kept in one place. */
export const BATCH_DEFAULTS = {
  maxParallel: 100,
  onShardFailure: 'fail_fast' as ShardFailurePolicy,
  /** Shard descriptors one split call returns at most (one activity result in the parent's history). */
  pageSize: 1000,
  /** Shards one run of the parent starts before it drains and continues as new (bounded history). */
  shardsPerRun: 500,
} as const;

/** Suffix of the task type every shard of a batch runs as: `demo.yield#shard` (`#` is no catalog name's). */
export const SHARD_TYPE_SUFFIX = '#shard';

/** The task type the shards of batch type `name` run as. */
export function shardTypeOf(name: string): string {
  return `${name}${SHARD_TYPE_SUFFIX}`;
}

/** The batch type a shard type belongs to, or undefined when `type` is no shard type. */
export function batchTypeOfShard(type: string): string | undefined {
  return type.endsWith(SHARD_TYPE_SUFFIX) ? type.slice(0, -SHARD_TYPE_SUFFIX.length) : undefined;
}

/** What a batch task returns: the reduced output and how its shards ended. */
export interface BatchResult<O = unknown> {
  /** The last `reduce` result (every succeeded shard's result went through `reduce` once). */
  output: O;
  total: number;
  succeeded: number;
  failed: number;
  /** Task IDs of the shards that failed for good (the first 1,000; `failed` counts them all). */
  failedShards: string[];
  /**
   * Set once the batch was redriven (`TaskClient.redrive`): shards that failed in an earlier run and
   * succeeded on a redrive, across all redrives so far (they are counted in `succeeded` too).
   */
  redriven?: number;
}

/** The batch part of a declaration (`defineBatchTask`); the catalog compiles it. */
export interface BatchSpec<D = unknown, R = unknown, O = unknown> {
  /** Schema every shard descriptor must pass (checked as the split produces it). */
  shardInput?: z.ZodType<D>;
  /** Schema of a shard's result (checked when the shard handler returns). */
  shardOutput?: z.ZodType<R>;
  /** Schema of `reduce`'s result. */
  output?: z.ZodType<O>;
  /** Shards running at once at most. @default 100 */
  maxParallel?: number;
  /** `fail_fast`: the first shard failing for good cancels the running ones and fails the batch. `continue`: the batch finishes and lists them. @default 'fail_fast' */
  onShardFailure?: ShardFailurePolicy;
  /** Descriptors one split call returns at most. @default 1000 */
  pageSize?: number;
  /** Shards one run of the parent workflow starts before it continues as new. @default 500 */
  shardsPerRun?: number;
}

/** A batch type as declared: a task whose workflow splits its input into shards, runs them as tasks, and reduces. */
export type BatchTaskDefinition<N extends string = string, S extends z.ZodType = z.ZodType, D = unknown, R = unknown, O = unknown> = Omit<
  TaskDefinition<N, S, BatchResult<O>>,
  'handler' | 'output'
> & { batch: BatchSpec<D, R, O> };

/** What `defineBatchTask` takes: a task declaration's fields plus the batch's own. */
export type BatchTaskInput<N extends string, S extends z.ZodType, D, R, O> = Omit<TaskDefinition<N, S, unknown>, 'handler' | 'output'> &
  Omit<BatchSpec<D, R, O>, never>;

/**
 * Declares a batch type: `split(input)` yields shard descriptors, each runs as an ordinary task of
 * type `<name>#shard` (the lane's pool, the type's retry policy, dead letters), and `reduce` folds
 * their results. The code lives in the group's handler module (`defineBatchHandler`); the
 * declaration holds only schemas and options, like any task's.
 */
export function defineBatchTask<const N extends string, S extends z.ZodType, D = unknown, R = unknown, O = unknown>(
  def: BatchTaskInput<N, S, D, R, O>,
): BatchTaskDefinition<N, S, D, R, O> {
  const { shardInput, shardOutput, output, maxParallel, onShardFailure, pageSize, shardsPerRun, ...task } = def;
  const batch: BatchSpec<D, R, O> = {
    ...(shardInput ? { shardInput } : {}),
    ...(shardOutput ? { shardOutput } : {}),
    ...(output ? { output } : {}),
    ...(maxParallel !== undefined ? { maxParallel } : {}),
    ...(onShardFailure !== undefined ? { onShardFailure } : {}),
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(shardsPerRun !== undefined ? { shardsPerRun } : {}),
  };
  return { ...task, batch };
}

/** The code of a batch type, in its group's handler module. */
export interface BatchHandler<I = unknown, D = unknown, R = unknown, O = unknown> {
  /** The shard descriptors of `input` (small: each becomes a shard task's input), as an array or an (async) iterable. */
  split(input: I, ctx: TaskContext): D[] | Iterable<D> | AsyncIterable<D> | Promise<D[] | Iterable<D> | AsyncIterable<D>>;
  /** Runs one shard; its result must be small (at most 8 KiB encoded). */
  shard(desc: D, ctx: TaskContext): Promise<R>;
  /**
   * Folds a page of shard results (up to 100, in the order shards finished) into the output so far
   * (`undefined` before the first page), so no step ever holds every result. Called at least once.
   */
  reduce(acc: O | undefined, results: R[], ctx: TaskContext): O | Promise<O>;
}

/** Any batch handler (a group's handler map holds several). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBatchHandler = BatchHandler<any, any, any, any>;

/** True for a value shaped like a batch handler (`defineBatchHandler`'s result). */
export function isBatchHandler(v: unknown): v is AnyBatchHandler {
  const h = v as Partial<AnyBatchHandler> | null;
  return (
    typeof h === 'object' && h !== null && typeof h.split === 'function' && typeof h.shard === 'function' && typeof h.reduce === 'function'
  );
}

/** True for a batch declaration. */
export function isBatchDefinition(def: unknown): def is BatchTaskDefinition {
  return typeof (def as { batch?: unknown } | null)?.batch === 'object';
}

/** Declares a batch type's code, typed by its declaration (input, descriptors, results, output). */
export function defineBatchHandler<N extends string, S extends z.ZodType, D, R, O>(
  _def: BatchTaskDefinition<N, S, D, R, O>,
  handler: BatchHandler<z.output<S>, D, R, O>,
): BatchHandler<z.output<S>, D, R, O> {
  return handler;
}

/** What a group's handler map holds per task type: a handler, or a batch type's `{ split, shard, reduce }`. */
export type GroupHandler = TaskHandler<unknown, unknown> | AnyBatchHandler;
