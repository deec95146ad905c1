import { z } from 'zod';
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
  /** The bulk that accepted the task (status `accepted` until its intake starts it). */
  bulkId: z.string().optional(),
  lastError: taskErrorSchema.optional(),
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
