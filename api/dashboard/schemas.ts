import { z } from 'zod';
import { LANES, TASK_STATUSES } from '../../config/names';
import { batchProgressSchema } from '../../config/task-state';
import { admissionViewSchema, bulkStatusSchema, poolSchema } from '../http/schemas';

/**
 * The zod schemas of the dashboard's own JSON (`GET /v1/dashboard`): what the page needs that the
 * other routes do not answer (history, the 24 h forecast, running batches and bulks), in one call.
 */

/** Query of `GET /v1/dashboard`: `since` (epoch ms) leaves out the history samples the page already has. */
export const dashboardQuerySchema = z
  .object({
    since: z.coerce.number().int().min(0).optional().describe('only history samples taken after this time (epoch ms)'),
  })
  .strict();
export type DashboardQuery = z.output<typeof dashboardQuerySchema>;

/** One pool in one history sample; null where the source had nothing (no scaler, stats unreadable). */
export const poolSampleSchema = z.object({
  backlog: z.number().nullable(),
  backlogAgeMs: z.number().nullable(),
  replicas: z.number().nullable(),
  desired: z.number().nullable(),
});
export type PoolSample = z.infer<typeof poolSampleSchema>;

/** One history sample: every pool (by `<group>.<lane>`) and this API's admission rates. */
export const historySampleSchema = z.object({
  at: z.number().int(),
  pools: z.record(z.string(), poolSampleSchema),
  admission: z.object({ high: z.number().optional(), normal: z.number().optional(), low: z.number().optional() }),
});
export type HistorySample = z.infer<typeof historySampleSchema>;

/** One cron fire within the next 24 h and the replicas the scaler's policy plans for it. */
export const forecastFireSchema = z.object({
  at: z.string(),
  pool: z.string(),
  group: z.string(),
  lane: z.enum(LANES),
  scheduleId: z.string(),
  taskType: z.string(),
  expectedTasks: z.number(),
  sizeSource: z.enum(['declared', 'learned']),
  /** Replicas the policy would run to work this fire off within the target drain time (bounds applied). */
  plannedReplicas: z.number().int(),
});
export type ForecastFireView = z.infer<typeof forecastFireSchema>;

export const runningBatchSchema = z.object({
  taskId: z.string(),
  runId: z.string(),
  type: z.string(),
  lane: z.enum(LANES).nullable(),
  startTime: z.string(),
  batch: batchProgressSchema.nullable(),
});

/** Answer of `GET /v1/dashboard`. Pools, forecast and lanes are the system's; the rest is the caller's tenant's. */
export const dashboardSchema = z.object({
  now: z.number().int(),
  tenant: z.string(),
  /** Pools now: the same rows as `GET /v1/pools`. */
  pools: z.array(poolSchema),
  admission: admissionViewSchema,
  /** The high lane's queue-wait objective (ms) its wait is charted against. */
  highWaitObjectiveMs: z.number(),
  history: z.object({
    intervalMs: z.number().int(),
    /** How far back samples go (ms). */
    windowMs: z.number().int(),
    samples: z.array(historySampleSchema),
  }),
  forecast: z.object({ horizonMs: z.number().int(), fires: z.array(forecastFireSchema), error: z.string().optional() }),
  deadLettered: z.number().int(),
  batches: z.array(runningBatchSchema),
  bulks: z.array(bulkStatusSchema),
  /** Every task status, for the page's filter. */
  statuses: z.array(z.enum(TASK_STATUSES)),
  /** Where a task's page in the Temporal Web UI is: `<url>/namespaces/<namespace>/workflows/<id>/<runId>/history`. */
  webUi: z.object({ url: z.string().nullable(), namespace: z.string() }),
});
export type DashboardView = z.infer<typeof dashboardSchema>;

/** The page's static files under `/dashboard/`. */
export const DASHBOARD_FILES = ['app.js', 'style.css', 'echarts.min.js'] as const;
export const dashboardFileParam = z.enum(DASHBOARD_FILES);
