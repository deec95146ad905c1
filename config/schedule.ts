import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { LANES } from './names';

/** Overlap policies Temporal Schedules support, in the SDK's spelling. */
export const OVERLAP_POLICIES = ['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a cron expression with cron-parser: 5 fields (`min hour dom mon dow`) or 6 with seconds
 * first (`sec min hour dom mon dow`). Returns an error message, or undefined when it is valid.
 */
export function cronProblem(cron: string, timezone?: string): string | undefined {
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `cron must have 5 fields (min hour dom mon dow) or 6 with seconds first; got ${fields}`;
  if (timezone !== undefined && !validTimeZone(timezone)) return `unknown time zone ${JSON.stringify(timezone)}`;
  try {
    CronExpressionParser.parse(cron, { ...(timezone ? { tz: timezone } : {}) }).next();
    return undefined;
  } catch (err) {
    return `invalid cron ${JSON.stringify(cron)}: ${(err as Error).message}`;
  }
}

/**
 * Temporal reads a 6-field cron as `min hour dom mon dow year`; Tideway (like cron-parser) reads it
 * as seconds first. A 6-field expression therefore goes to Temporal as 7 fields with year `*`.
 */
export function toTemporalCron(cron: string): string {
  const fields = cron.trim().split(/\s+/);
  return fields.length === 6 ? [...fields, '*'].join(' ') : fields.join(' ');
}

/** Fire times of a cron expression in [from, to), at most `limit` of them. */
export function cronFires(cron: string, from: Date, to: Date, timezone?: string, limit = 10_000): Date[] {
  const it = CronExpressionParser.parse(cron, {
    currentDate: new Date(from.getTime() - 1),
    endDate: to,
    ...(timezone ? { tz: timezone } : {}),
  });
  const out: Date[] = [];
  while (out.length < limit && it.hasNext()) {
    const d = it.next().toDate();
    if (d.getTime() >= to.getTime()) break;
    if (d.getTime() >= from.getTime()) out.push(d);
  }
  return out;
}

export const scheduleEntrySchema = z
  .object({
    /** Unique across the catalog; the Temporal Schedule ID is `tideway.<id>`. */
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,79}$/, 'lowercase letters, digits, . _ - (max 80)'),
    cron: z.string().min(1),
    input: z.unknown(),
    lane: z.enum(LANES).optional(),
    timezone: z.string().optional(),
    overlap: z.enum(OVERLAP_POLICIES).default('SKIP'),
    /** How many tasks one fire produces (the scaler's forecast multiplies by it). @default 1 */
    expectedTasks: z.number().int().min(1).default(1),
  })
  .strict()
  .superRefine((s, ctx) => {
    const problem = cronProblem(s.cron, s.timezone);
    if (problem)
      ctx.addIssue({ code: 'custom', path: problem.startsWith('unknown time zone') ? ['timezone'] : ['cron'], message: problem });
  });

export type ScheduleEntryInput = z.input<typeof scheduleEntrySchema>;

/** A catalog schedule after validation, with the task type it starts. */
export interface CompiledSchedule {
  id: string;
  /** Temporal Schedule ID. */
  scheduleId: string;
  taskType: string;
  group: string;
  lane: (typeof LANES)[number];
  cron: string;
  timezone: string | undefined;
  input: unknown;
  overlap: OverlapPolicy;
  expectedTasks: number;
  /** The app whose control queue the fires start on. */
  app: string | undefined;
  /** The type is a batch type: each fire starts `runBatch`. */
  batch?: boolean;
}

/** Prefix of every Temporal Schedule Tideway creates from the catalog (sync removes only these). */
export const CATALOG_SCHEDULE_PREFIX = 'tideway.';

/** The catalog-schedule prefix of `app`: `tideway.<app>.`, or `tideway.` for the unnamed app. */
export function catalogSchedulePrefix(app?: string): string {
  return app ? `${CATALOG_SCHEDULE_PREFIX}${app}.` : CATALOG_SCHEDULE_PREFIX;
}
