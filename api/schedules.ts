import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError as TemporalScheduleNotFound,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Catalog } from '../config/catalog-schema';
import { DEFAULT_TENANT, RUN_BATCH_WORKFLOW, RUN_TASK_WORKFLOW, TASK_WORKFLOW_TYPES, controlTaskQueue } from '../config/names';
import { catalogSchedulePrefix, toTemporalCron, type CompiledSchedule } from '../config/schedule';
import {
  CATALOG_MEMO_KEY,
  catalogScheduleMemo,
  readCatalogScheduleMemo,
  sameCatalogScheduleMemo,
  type CatalogScheduleMemo,
} from '../config/schedule-memo';
import { taskAttributePairs, taskUserMetadata } from '../config/search-attributes';
import { ScheduleNotFoundError } from './errors';

/** One schedule as `schedules list` shows it. */
export interface ScheduleSummary {
  scheduleId: string;
  taskType: string | undefined;
  lane: string | undefined;
  /** The cron as the catalog gave it (from the schedule's memo; empty when the memo has none). */
  cron: string[];
  timezone: string | undefined;
  paused: boolean;
  nextFires: string[];
  recentActions: number;
  source: string | undefined;
}

export interface SyncReport {
  created: string[];
  updated: string[];
  deleted: string[];
}

/** Temporal ScheduleOptions for a catalog schedule: starts `runTask` on the control queue. */
export function catalogScheduleOptions(s: CompiledSchedule): ScheduleOptions {
  return {
    scheduleId: s.scheduleId,
    spec: { cronExpressions: [toTemporalCron(s.cron)], ...(s.timezone ? { timezone: s.timezone } : {}) },
    action: {
      type: 'startWorkflow',
      workflowType: s.batch ? RUN_BATCH_WORKFLOW : RUN_TASK_WORKFLOW,
      taskQueue: controlTaskQueue(s.app),
      // Temporal appends the fire time to this ID, so each fire is one task, run once.
      workflowId: s.scheduleId,
      args: [{ type: s.taskType, input: s.input, lane: s.lane }],
      typedSearchAttributes: new TypedSearchAttributes(
        taskAttributePairs({ type: s.taskType, group: s.group, lane: s.lane, tenant: DEFAULT_TENANT, status: 'queued' }),
      ),
      ...taskUserMetadata({ type: s.taskType, group: s.group, lane: s.lane, tenant: DEFAULT_TENANT }, { scheduleId: s.scheduleId }),
    },
    policies: { overlap: s.overlap, catchupWindow: '1m' },
    memo: { [CATALOG_MEMO_KEY]: catalogScheduleMemo(s) },
  };
}

/** Manages Tideway's Temporal Schedules: catalog sync and the operator verbs. */
export class TaskSchedules {
  /** `app`: whose schedules these are; another app's on the same namespace are never listed or synced. */
  constructor(
    private readonly client: Client,
    private readonly app?: string,
  ) {}

  /** True when a listed schedule belongs to this app's catalog (its prefix, and no other app in its memo). */
  private ownsCatalogSchedule(scheduleId: string, memo: CatalogScheduleMemo | undefined): boolean {
    return scheduleId.startsWith(catalogSchedulePrefix(this.app)) && (memo?.app ?? undefined) === this.app;
  }

  /**
   * Makes the server match the catalog: creates missing schedules, updates changed ones, and
   * deletes this app's catalog schedules (prefix `tideway[.<app>].`) the catalog no longer names.
   * Temporal cannot change a schedule's memo, so one whose memo is out of date (another cron, lane,
   * expected tasks, or written by an older Tideway) is replaced. Pause state and note are kept.
   */
  async sync(catalog: Catalog): Promise<SyncReport> {
    if (catalog.app !== this.app)
      throw new Error(`schedules of app ${String(this.app)} cannot sync the catalog of app ${String(catalog.app)}`);
    const report: SyncReport = { created: [], updated: [], deleted: [] };
    const wanted = new Map(catalog.schedules.map((s) => [s.scheduleId, s]));
    const existing = new Set<string>();
    for await (const s of this.client.schedule.list()) {
      if (this.ownsCatalogSchedule(s.scheduleId, readCatalogScheduleMemo(s.memo))) existing.add(s.scheduleId);
    }
    for (const [id, s] of wanted) {
      const opts = catalogScheduleOptions(s);
      const handle = this.client.schedule.getHandle(id);
      // Describe, not the list above, decides whether it exists: schedule listing is eventually
      // consistent and may not show one created or replaced a moment ago.
      const current = await handle.describe().catch((err: unknown) => {
        if (err instanceof TemporalScheduleNotFound) return undefined;
        throw err;
      });
      if (!current) {
        try {
          await this.client.schedule.create(opts);
          report.created.push(id);
        } catch (err) {
          // Another control replica created it from the same catalog in the meantime.
          if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        }
        continue;
      }
      const theirs = readCatalogScheduleMemo(current.memo);
      if (theirs && (theirs.app ?? undefined) !== this.app) {
        // `tideway.<app>.<id>` of one app can spell another's `tideway.<id>`: never take it over.
        throw new Error(`schedule ${id} belongs to app ${theirs.app ?? '(none)'}; rename schedule ${s.id} in this catalog`);
      }
      if (sameCatalogScheduleMemo(theirs, catalogScheduleMemo(s))) {
        await handle.update((prev) => ({
          ...prev,
          spec: opts.spec,
          action: opts.action,
          policies: { ...prev.policies, ...opts.policies },
        }));
      } else {
        const { paused, note } = current.state;
        await handle.delete();
        await this.client.schedule.create({ ...opts, state: { paused, ...(note ? { note } : {}) } });
      }
      report.updated.push(id);
    }
    for (const id of existing) {
      if (wanted.has(id)) continue;
      await this.client.schedule.getHandle(id).delete();
      report.deleted.push(id);
    }
    return report;
  }

  /** Tideway schedules on the server with their next fire times. */
  async list(): Promise<ScheduleSummary[]> {
    const out: ScheduleSummary[] = [];
    for await (const s of this.client.schedule.list()) {
      const memo = readCatalogScheduleMemo(s.memo);
      if (!memo && !this.ownsCatalogSchedule(s.scheduleId, memo)) continue;
      if (memo && (memo.app ?? undefined) !== this.app) continue;
      const action = s.action as { workflowType?: string } | undefined;
      if (action?.workflowType && !TASK_WORKFLOW_TYPES.includes(action.workflowType)) continue;
      out.push({
        scheduleId: s.scheduleId,
        taskType: memo?.taskType,
        lane: memo?.lane,
        cron: memo?.cron ? [memo.cron] : [],
        timezone: memo?.timezone,
        paused: s.state.paused,
        nextFires: s.info.nextActionTimes.map((d) => d.toISOString()),
        recentActions: s.info.recentActions.length,
        source: memo?.source,
      });
    }
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  async pause(scheduleId: string, note = 'paused via Tideway'): Promise<void> {
    await this.wrap(scheduleId, (h) => h.pause(note));
  }

  async resume(scheduleId: string, note = 'resumed via Tideway'): Promise<void> {
    await this.wrap(scheduleId, (h) => h.unpause(note));
  }

  /** Fires the schedule now (its overlap policy still applies). */
  async trigger(scheduleId: string): Promise<void> {
    await this.wrap(scheduleId, (h) => h.trigger());
  }

  async delete(scheduleId: string): Promise<void> {
    await this.wrap(scheduleId, (h) => h.delete());
  }

  private async wrap(scheduleId: string, fn: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<void>): Promise<void> {
    try {
      await fn(this.client.schedule.getHandle(scheduleId));
    } catch (err) {
      if (err instanceof TemporalScheduleNotFound) throw new ScheduleNotFoundError(scheduleId);
      throw err;
    }
  }
}
