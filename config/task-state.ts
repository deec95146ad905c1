import { z } from 'zod';
import { FLOW_KINDS } from './flow';
import { LANES, TASK_STATUSES } from './names';

/**
 * What query `state` of `runTask` answers, as one zod schema: the TypeScript type the workflow keeps
 * and the clients return comes from it (`z.infer`), and so does the HTTP API's answer to
 * `GET /v1/tasks/{id}` and its OpenAPI schema.
 *
 * The workflow imports only the types (`import type`): zod stays out of the workflow bundle.
 */

/** The last failure of a task, as `state` reports it. */
export const taskErrorSchema = z.object({
  type: z.string(),
  /** retryable | throttled | non_retryable | timeout | expired */
  class: z.string(),
  message: z.string(),
  attempt: z.number(),
});
export type TaskError = z.infer<typeof taskErrorSchema>;

/** A batch task's progress (`defineBatchTask`): its shards so far, across continue-as-new runs. */
export const batchProgressSchema = z.object({
  /** Shards the split produced so far (final once `splitDone`). */
  total: z.number().int(),
  splitDone: z.boolean(),
  /** Shards that succeeded (their results reduced or waiting in the current page). */
  done: z.number().int(),
  /** Shards that failed for good (dead-lettered, failed, cancelled). */
  failed: z.number().int(),
  running: z.number().int(),
  maxParallel: z.number().int(),
  onShardFailure: z.enum(['fail_fast', 'continue']),
  /** Task IDs of failed shards (the first 1,000). */
  failedShards: z.array(z.string()),
  /** Runs of the parent workflow so far (it continues as new to keep its history bounded). */
  runs: z.number().int(),
  /** Set while (and after) the batch is redriven: the current redrive of its failed shards. */
  redrive: z
    .object({
      /** 1 for the first redrive of this batch, 2 for the next, … */
      round: z.number().int(),
      /** Failed shards this redrive runs again. */
      shards: z.number().int(),
      /** Of those: succeeded this time (their results reduced into the output). */
      done: z.number().int(),
      /** Of those: failed again (still in `failedShards`). */
      failed: z.number().int(),
      running: z.number().int(),
    })
    .optional(),
});
export type BatchProgress = z.infer<typeof batchProgressSchema>;

/** A task's flow control (`concurrency`, `rateLimit`): its keys, and why it waits when it does. */
export const flowStateSchema = z.object({
  concurrencyKey: z.string().optional(),
  rateKey: z.string().optional(),
  /** Set while the task waits for a permit. */
  waiting: z
    .object({
      kind: z.enum(FLOW_KINDS),
      key: z.string(),
      /** Workflow ID of the limiter it waits on. */
      limiter: z.string(),
      since: z.string(),
      /** Permits held (concurrency) or used in the window (rate) when it asked; the API reads the live figure. */
      running: z.number().int(),
      limit: z.number().int(),
      /** Its place in the queue when it asked (1 = next). */
      position: z.number().int().optional(),
      /** e.g. "waiting for a concurrency permit: key acme, 2/2 running". */
      reason: z.string(),
    })
    .optional(),
});
export type FlowState = z.infer<typeof flowStateSchema>;

/** The public shape from the design brief, plus a few extras. */
export const taskStateSchema = z.object({
  taskId: z.string(),
  type: z.string(),
  status: z.enum(TASK_STATUSES),
  /** Handler attempts so far, across pause/resume, promotion and redrive. */
  attempts: z.number().int(),
  lane: z.enum(LANES).nullable(),
  group: z.string().nullable(),
  tenant: z.string(),
  /** True while an operator holds the task (status says `paused` once no attempt is running). */
  paused: z.boolean(),
  /** Lane moves made by aging (`promoteAfter`), oldest first. */
  promotions: z.array(z.object({ from: z.enum(LANES), to: z.enum(LANES), at: z.string() })),
  redrives: z.number().int(),
  /** Why the task has not started yet, in words (a debounce window: "debouncing: 12 submit(s), starts in 20 s …"). */
  waiting: z.string().optional(),
  /** A debounce window that has not started its run: its key, submits so far, earliest and latest start. */
  debounce: z
    .object({ key: z.string(), submits: z.number().int(), startsAt: z.string().optional(), latestAt: z.string().optional() })
    .optional(),
  /** The bulk that accepted the task (status `accepted` until its intake starts it). */
  bulkId: z.string().optional(),
  lastError: taskErrorSchema.optional(),
  /** Set on a task whose type declares `concurrency` or `rateLimit`. */
  flow: flowStateSchema.optional(),
  /** Set on a batch task: its shards' progress. */
  batch: batchProgressSchema.optional(),
  result: z.unknown().optional(),
  /** Status `duplicate`: the earlier run of this task ID that succeeded, whose result this run returns. */
  duplicateOf: z.object({ runId: z.string(), finishedAt: z.string().optional(), resultOmitted: z.boolean().optional() }).optional(),
  timestamps: z.object({
    submittedAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    deadLetteredAt: z.string().optional(),
    /** When a dead-lettered task closes as failed unless redriven. */
    deadLetterExpiresAt: z.string().optional(),
    /** TTL deadline: not started by then → expired. */
    expiresAt: z.string().optional(),
  }),
});
export type TaskState = z.infer<typeof taskStateSchema>;
