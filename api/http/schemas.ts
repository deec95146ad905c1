import { z } from 'zod';
import { onConflictSchema } from '../../config/conflict';
import { debounceSubmitSchema } from '../../config/debounce';
import { durationMs } from '../../config/duration';
import { bulkIdSchema, taskIdSchema, taskRefSchema, taskTagSchema } from '../../config/envelope';
import { listFilterSchema } from '../../config/visibility';
import { LANES, TASK_STATUSES } from '../../config/names';
import { OVERLAP_POLICIES } from '../../config/schedule';
import { taskLogLineSchema, taskLogQuerySchema } from '../../config/task-log';

/**
 * The zod schemas of every request and answer of the HTTP API. Handlers parse with them and
 * `/openapi.json` is generated from them, so the document cannot drift from the code.
 */

/** Largest number of tasks one bulk request may carry. */
export const MAX_BULK = 100_000;

/** Largest body of `POST /v1/tasks:bulk` (JSON or NDJSON): 100,000 small tasks fit. */
export const BULK_BODY_LIMIT = 64 * 1024 * 1024;

/** A duration as the API accepts it: ms as a number, or `'500ms' | '10s' | '5m' | '2h' | '7d'`. */
const duration = z.union([z.number().min(0), z.string().max(32)]).meta({ description: "ms, or '500ms', '10s', '5m', '2h', '7d'" });

/** A task ID a submit may name; the same rules as task IDs everywhere else. */
export const taskIdParam = taskIdSchema;
/** Path parameter naming a task: a task ID, or a batch shard's `<taskId>/shard-<n>` (URL-encoded `/`). */
export const taskRefParam = taskRefSchema;

/** Body of `POST /v1/tasks`; the tenant is never taken from here (it comes from the API key). */
export const submitBodySchema = z
  .object({
    type: z.string().min(1).max(200),
    input: z.unknown().optional(),
    taskId: taskIdSchema.optional(),
    lane: z.enum(LANES).optional(),
    delay: duration.optional(),
    ttl: duration.optional(),
    callbackUrl: z
      .url({ protocol: /^https?$/, message: 'callbackUrl must be an http(s) URL' })
      .max(2048)
      .optional(),
    tags: z.array(z.string().max(64)).max(20).optional(),
    tag: taskTagSchema.optional().describe('caller tag the handler forwards downstream (header x-tideway-tag)'),
    onConflict: onConflictSchema.optional().describe('when a task with this ID is open: skip | cancel_running | replace_queued'),
    dedupeFor: duration.optional().describe('refuse this ID for this long after its task closed (even after success)'),
    debounce: debounceSubmitSchema.optional().describe('debounce this submit under a key (README "Flow control")'),
  })
  .strict()
  .superRefine((b, ctx) => {
    for (const k of ['delay', 'ttl', 'dedupeFor'] as const) {
      if (b[k] !== undefined && !durationMs.safeParse(b[k]).success) {
        ctx.addIssue({ code: 'custom', path: [k], message: `invalid duration ${JSON.stringify(b[k])}` });
      }
    }
  });
export type SubmitBody = z.input<typeof submitBodySchema>;
export type SubmitInput = z.output<typeof submitBodySchema>;

export const submitResultSchema = z.object({
  taskId: z.string(),
  status: z.enum(TASK_STATUSES),
  duplicate: z.boolean().optional(),
  replaced: z.object({ runId: z.string(), how: z.enum(['cancelled', 'terminated']) }).optional(),
  debounce: z
    .object({
      windowId: z.string(),
      nextWindowId: z.string(),
      key: z.string(),
      submits: z.number().int(),
      firstAt: z.string().optional(),
      lastAt: z.string().optional(),
      startsAt: z.string().optional(),
      latestAt: z.string().optional(),
      phase: z.enum(['collecting', 'starting']),
      nextSubmits: z.number().int(),
      windowOfSubmit: z.string().optional(),
    })
    .optional(),
});

/**
 * Body of `POST /v1/tasks:bulk` as JSON (an NDJSON body is parsed into the same shape): items are
 * validated one by one, so one bad item sinks nothing else.
 */
export const bulkBodySchema = z
  .object({
    tasks: z.array(z.unknown()).min(1, 'a bulk needs at least one task').max(MAX_BULK, `at most ${MAX_BULK} tasks per bulk`),
    bulkId: bulkIdSchema.optional(),
  })
  .strict();

export const errorSchema = z.object({
  error: z.object({ type: z.string(), message: z.string(), details: z.unknown().optional() }),
});

/** Answer of `POST /v1/tasks:bulk`: the valid items are durably accepted; they start at the admitted rate. */
export const bulkAcceptedSchema = z.object({
  bulkId: z.string(),
  accepted: z.number().int(),
  rejected: z.number().int(),
  /** Task ID of each item by index; null for a rejected item. */
  taskIds: z.array(z.string().nullable()),
  errors: z.array(z.object({ index: z.number().int(), httpStatus: z.number().int(), error: errorSchema.shape.error })),
});
export type BulkAccepted = z.infer<typeof bulkAcceptedSchema>;

export const BULK_STATES = ['running', 'completed', 'cancelled'] as const;

/** Answer of `GET /v1/bulk/{id}`: how far the intake of a bulk has got. */
export const bulkStatusSchema = z.object({
  bulkId: z.string(),
  tenant: z.string(),
  state: z.enum(BULK_STATES),
  accepted: z.number().int(),
  started: z.number().int(),
  duplicate: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  pending: z.number().int(),
  chunks: z.object({ total: z.number().int(), done: z.number().int() }),
  failures: z.array(z.object({ taskId: z.string(), message: z.string() })),
  acceptedAt: z.string(),
});
export type BulkStatus = z.infer<typeof bulkStatusSchema>;

/** Answer of `POST /v1/bulk/{id}:cancel`. */
export const bulkCancelledSchema = z.object({
  bulkId: z.string(),
  cancelledChunks: z.number().int(),
  batchJobId: z.string().optional(),
});
export type BulkCancelled = z.infer<typeof bulkCancelledSchema>;

export const bulkIdParam = bulkIdSchema;
export { bulkIdSchema };

/** A task filter as a caller may give it: the tenant always comes from the API key, never from here. */
const callerFilterSchema = listFilterSchema.omit({ tenant: true });

/** Query of `GET /v1/tasks`. */
export const listQuerySchema = callerFilterSchema
  .extend({
    pageSize: z.coerce.number().int().min(1).max(1000).optional(),
    pageToken: z
      .string()
      .max(4096)
      .regex(/^[A-Za-z0-9_-]*$/, 'not a page token')
      .optional(),
  })
  .strict();
export type ListQuery = z.output<typeof listQuerySchema>;

/** Answer of `GET /v1/tasks/{id}`: what query `state` returns, as the workflow and TaskClient type it. */
export { taskStateSchema } from '../../config/task-state';

export const taskSummarySchema = z.object({
  taskId: z.string(),
  runId: z.string(),
  type: z.string().optional(),
  status: z.enum(TASK_STATUSES).optional(),
  lane: z.enum(LANES).optional(),
  group: z.string().optional(),
  tenant: z.string().optional(),
  executionStatus: z.string(),
  startTime: z.string(),
  closeTime: z.string().optional(),
});
export const listResultSchema = z.object({ tasks: z.array(taskSummarySchema), nextPageToken: z.string().optional() });

/** Query of `GET /v1/tasks/{id}/logs`: `after` (the `next` of an earlier page) and `limit` (1-1000, default 200). */
export const taskLogsQuerySchema = taskLogQuerySchema;
/** Answer of `GET /v1/tasks/{id}/logs`: lines oldest first across attempts and workers, the cursor after them, the task's status. */
export const taskLogsSchema = z.object({
  taskId: z.string(),
  status: z.enum(TASK_STATUSES).optional(),
  lines: z.array(taskLogLineSchema),
  next: z.string(),
  truncated: z.boolean(),
});

/** Actions of `POST /v1/tasks/{id}:<action>`. */
export const TASK_ACTIONS = ['cancel', 'pause', 'resume', 'redrive', 'discard'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

/** Optional body of `POST /v1/tasks/{id}:redrive` (fastify validates a missing body as null). */
export const redriveBodySchema = z
  .object({ lane: z.enum(LANES).optional() })
  .strict()
  .nullable();
/** Body of the other task actions: none, or an empty object. */
export const noBodySchema = z.union([z.object({}).strict(), z.null()]);
export const actionResultSchema = z.object({
  taskId: z.string(),
  action: z.enum(TASK_ACTIONS),
  accepted: z.literal(true),
  /** Redrive of a batch: the failed shards it runs again. */
  shards: z.number().int().optional(),
  /** Redrive of a batch: its failed shards in all (more than `shards` past the 1,000 IDs it keeps). */
  failed: z.number().int().optional(),
});
export type ActionResult = z.infer<typeof actionResultSchema>;

export const BATCH_OPERATIONS = ['pause', 'resume', 'cancel', 'redrive'] as const;
export type BatchOperation = (typeof BATCH_OPERATIONS)[number];

/** Body of `POST /v1/batches`: an operation over every task of the caller matching a filter. */
export const batchBodySchema = z
  .object({
    operation: z.enum(BATCH_OPERATIONS),
    filter: callerFilterSchema.default({}),
    reason: z.string().max(200).optional(),
  })
  .strict();
export type BatchBody = z.input<typeof batchBodySchema>;

/** Batch IDs are our own (`<tenant>.<uuid>`-shaped) but only their shape is checked here. */
export const batchIdParam = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'not a batch ID');

export const batchStartedSchema = z.object({ batchId: z.string(), operation: z.enum(BATCH_OPERATIONS), query: z.string() });
export const batchStatusSchema = z.object({
  batchId: z.string(),
  operation: z.string(),
  state: z.enum(['running', 'completed', 'failed', 'unknown']),
  total: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  startTime: z.string().optional(),
  closeTime: z.string().optional(),
  reason: z.string().optional(),
});
export type BatchStatus = z.infer<typeof batchStatusSchema>;

/** A tenant's schedule name; the Temporal Schedule ID is derived from it and the tenant. */
export const scheduleIdParam = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,79}$/, 'lowercase letters, digits, . _ - (max 80)');

/** Body of `POST /v1/schedules`: a cron task owned by the caller's tenant. */
export const scheduleBodySchema = z
  .object({
    id: scheduleIdParam,
    cron: z.string().min(1).max(200),
    timezone: z.string().max(64).optional(),
    type: z.string().min(1).max(200),
    input: z.unknown().optional(),
    lane: z.enum(LANES).optional(),
    overlap: z.enum(OVERLAP_POLICIES).default('SKIP'),
    paused: z.boolean().default(false),
    note: z.string().max(200).optional(),
  })
  .strict();
export type ScheduleBody = z.input<typeof scheduleBodySchema>;

export const scheduleSchema = z.object({
  id: z.string(),
  scheduleId: z.string(),
  type: z.string().optional(),
  cron: z.array(z.string()),
  timezone: z.string().optional(),
  paused: z.boolean(),
  note: z.string().optional(),
  nextFires: z.array(z.string()),
  recentActions: z.number().int().optional(),
});
export type ScheduleView = z.infer<typeof scheduleSchema>;
export const scheduleListSchema = z.object({ schedules: z.array(scheduleSchema) });
export const scheduleActionSchema = z.object({
  id: z.string(),
  action: z.enum(['pause', 'resume', 'trigger', 'delete']),
  accepted: z.literal(true),
});
export const SCHEDULE_ACTIONS = ['pause', 'resume', 'trigger'] as const;

export const poolSchema = z.object({
  group: z.string(),
  lane: z.enum(LANES),
  taskQueue: z.string(),
  backlog: z.number().nullable(),
  backlogAgeMs: z.number().nullable(),
  addRate: z.number().nullable(),
  dispatchRate: z.number().nullable(),
  replicas: z.number().nullable(),
  desired: z.number().nullable(),
  forecast: z.unknown().optional(),
  maxBacklog: z.number().nullable(),
  overloaded: z.boolean(),
});
export type PoolView = z.infer<typeof poolSchema>;
/** Lane admission of the API process (admission/): its mode, the high lane's objective and the current start rates. */
export const admissionViewSchema = z.object({
  mode: z.enum(['adaptive', 'fixed', 'off']),
  /** The high lane's queue-wait objective that adaptive admission protects; null in other modes. */
  objectiveMs: z.number().nullable(),
  /** Starts per second per paced lane; a lane absent is not paced. */
  rates: z.object({ high: z.number().optional(), normal: z.number().optional(), low: z.number().optional() }),
  /** A fixed budget shared by the cluster: how many processes share it (the rates are this one's share). */
  sharedBy: z.number().int().optional(),
});
export type AdmissionView = z.infer<typeof admissionViewSchema>;
export const poolListSchema = z.object({ pools: z.array(poolSchema), admission: admissionViewSchema });

export const healthSchema = z.object({ ok: z.boolean(), temporal: z.enum(['up', 'down']) });

/** Turns zod issues into `{path, message}` with dotted paths (prefix for nested items). */
export function issuesOf(error: z.ZodError, prefix = ''): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.'), message: i.message }));
}
