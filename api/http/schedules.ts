import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Catalog } from '../../config/catalog-schema';
import { resolveEnvelope } from '../../config/envelope';
import { RUN_TASK_WORKFLOW } from '../../config/names';
import { cronProblem, toTemporalCron } from '../../config/schedule';
import { readTenantScheduleMemo, type TenantScheduleMemo } from '../../config/schedule-memo';
import { taskAttributePairs, taskUserMetadata } from '../../config/search-attributes';
import { BadRequestError, ConflictError, NotFoundError } from './errors';
import { scheduleBodySchema, type ScheduleBody, type ScheduleView } from './schemas';

/**
 * Tenant-owned cron tasks over Temporal Schedules. The Temporal Schedule ID is
 * `tw-tenant.<tenant>.<id>`: outside the catalog's `tideway.` prefix (so catalog sync never removes
 * them) and carrying the tenant (so one tenant cannot see or touch another's).
 */

const PREFIX = 'tw-tenant.';

/** Temporal Schedule ID of a tenant's schedule. */
export function tenantScheduleId(tenant: string, id: string): string {
  return `${PREFIX}${tenant}.${id}`;
}

/** Creates a schedule; a bad cron is a 400 naming the `cron` field, an existing ID a 409. */
export async function createSchedule(client: Client, catalog: Catalog, tenant: string, body: ScheduleBody): Promise<ScheduleView> {
  const b = scheduleBodySchema.parse(body);
  const problem = cronProblem(b.cron, b.timezone);
  if (problem) throw new BadRequestError([{ path: problem.startsWith('unknown time zone') ? 'timezone' : 'cron', message: problem }]);
  const envelope = { type: b.type, input: b.input, tenant, ...(b.lane ? { lane: b.lane } : {}) };
  const resolved = resolveEnvelope(catalog, envelope);
  const scheduleId = tenantScheduleId(tenant, b.id);
  const memo: TenantScheduleMemo = { tidewayCron: b.cron, tidewayType: b.type, ...(b.timezone ? { tidewayTimezone: b.timezone } : {}) };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { cronExpressions: [toTemporalCron(b.cron)], ...(b.timezone ? { timezone: b.timezone } : {}) },
      action: {
        type: 'startWorkflow',
        workflowType: RUN_TASK_WORKFLOW,
        taskQueue: catalog.controlQueue,
        workflowId: scheduleId,
        args: [envelope],
        typedSearchAttributes: new TypedSearchAttributes(taskAttributePairs({ ...resolved, tenant, status: 'queued' })),
        ...taskUserMetadata({ ...resolved, tenant }, { scheduleId }),
      },
      policies: { overlap: b.overlap },
      memo,
      state: { paused: b.paused, ...(b.note ? { note: b.note } : {}) },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new ConflictError(`schedule ${b.id} already exists`);
    throw err;
  }
  return describeSchedule(client, tenant, b.id);
}

/** One of the tenant's schedules with its next fire times. */
export async function describeSchedule(client: Client, tenant: string, id: string): Promise<ScheduleView> {
  try {
    return scheduleView(id, await client.schedule.getHandle(tenantScheduleId(tenant, id)).describe());
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new NotFoundError(`no schedule ${JSON.stringify(id)}`);
    throw err;
  }
}

/** What a schedule's description and its list summary both carry, as `ScheduleView` needs it. */
interface ScheduleFacts {
  scheduleId: string;
  memo?: Record<string, unknown> | undefined;
  state: { paused: boolean; note?: string | undefined };
  info: { nextActionTimes: Date[]; recentActions: unknown[] };
}

function scheduleView(id: string, f: ScheduleFacts): ScheduleView {
  const memo = readTenantScheduleMemo(f.memo);
  return {
    id,
    scheduleId: f.scheduleId,
    ...(memo.tidewayType ? { type: memo.tidewayType } : {}),
    cron: memo.tidewayCron ? [memo.tidewayCron] : [],
    ...(memo.tidewayTimezone ? { timezone: memo.tidewayTimezone } : {}),
    paused: f.state.paused,
    ...(f.state.note ? { note: f.state.note } : {}),
    nextFires: f.info.nextActionTimes.map((t) => t.toISOString()),
    recentActions: f.info.recentActions.length,
  };
}

/** The tenant's schedules (from schedule visibility, so a just-created one may take a moment). */
export async function listSchedules(client: Client, tenant: string): Promise<ScheduleView[]> {
  const mine = `${PREFIX}${tenant}.`;
  const out: ScheduleView[] = [];
  for await (const s of client.schedule.list({ pageSize: 200 })) {
    if (!s.scheduleId.startsWith(mine)) continue;
    out.push(scheduleView(s.scheduleId.slice(mine.length), s));
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Pause, resume, trigger now, or delete one of the tenant's schedules. */
export async function scheduleAction(
  client: Client,
  tenant: string,
  id: string,
  action: 'pause' | 'resume' | 'trigger' | 'delete',
): Promise<void> {
  const h = client.schedule.getHandle(tenantScheduleId(tenant, id));
  try {
    if (action === 'pause') await h.pause(`paused by ${tenant} via API`);
    else if (action === 'resume') await h.unpause(`resumed by ${tenant} via API`);
    else if (action === 'trigger') await h.trigger();
    else await h.delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new NotFoundError(`no schedule ${JSON.stringify(id)}`);
    throw err;
  }
}
