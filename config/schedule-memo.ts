import { z } from 'zod';
import { LANES } from './names';
import type { CompiledSchedule } from './schedule';

/**
 * The memos Tideway keeps on its Temporal Schedules, defined once for the writers and every reader.
 * Temporal cannot change a schedule's memo after creation, so catalog sync replaces a schedule whose
 * memo is out of date (api/schedules.ts).
 */

/** Key of the catalog memo in a catalog schedule's memo map. */
export const CATALOG_MEMO_KEY = 'tideway';

/**
 * The memo of a catalog schedule: what a fire starts (the scaler's forecast reads it), whose it is,
 * and its cron as the catalog gives it (Temporal hands a schedule's spec back as calendars only).
 * Memos written by hand or by an older Tideway may lack `source`, `cron` and `timezone`.
 */
export const catalogScheduleMemoSchema = z.object({
  taskType: z.string(),
  group: z.string(),
  lane: z.enum(LANES),
  /** How many tasks one fire produces. */
  expectedTasks: z.number().int().min(1).default(1),
  source: z.enum(['catalog', 'api']).optional(),
  /** The app that owns the schedule (absent: the unnamed app); sync never touches another app's. */
  app: z.string().optional(),
  cron: z.string().optional(),
  timezone: z.string().optional(),
});
export type CatalogScheduleMemo = z.output<typeof catalogScheduleMemoSchema>;

/** The memo catalog sync writes for a schedule of the catalog. */
export function catalogScheduleMemo(s: CompiledSchedule): CatalogScheduleMemo {
  return catalogScheduleMemoSchema.parse({
    taskType: s.taskType,
    group: s.group,
    lane: s.lane,
    expectedTasks: s.expectedTasks,
    source: 'catalog',
    ...(s.app ? { app: s.app } : {}),
    cron: s.cron,
    ...(s.timezone ? { timezone: s.timezone } : {}),
  });
}

/** The catalog memo in a schedule's memo map; undefined when there is none or it does not parse. */
export function readCatalogScheduleMemo(memo: Record<string, unknown> | undefined): CatalogScheduleMemo | undefined {
  const r = catalogScheduleMemoSchema.safeParse(memo?.[CATALOG_MEMO_KEY]);
  return r.success ? r.data : undefined;
}

/** True when two catalog memos say the same (a missing one equals nothing). */
export function sameCatalogScheduleMemo(a: CatalogScheduleMemo | undefined, b: CatalogScheduleMemo | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The memo of a tenant's schedule (HTTP API, `tw-tenant.*`): flat keys, so `GET /v1/schedules` can
 * show the cron, type and time zone the tenant gave.
 */
export const tenantScheduleMemoSchema = z.object({
  tidewayCron: z.string().optional(),
  tidewayType: z.string().optional(),
  tidewayTimezone: z.string().optional(),
});
export type TenantScheduleMemo = z.output<typeof tenantScheduleMemoSchema>;

/** The tenant memo in a schedule's memo map ({} when it does not parse). */
export function readTenantScheduleMemo(memo: Record<string, unknown> | undefined): TenantScheduleMemo {
  const r = tenantScheduleMemoSchema.safeParse(memo ?? {});
  return r.success ? r.data : {};
}
