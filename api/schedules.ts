import { ScheduleNotFoundError as TemporalScheduleNotFound, type Client, type ScheduleOptions } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Catalog } from '../config/catalog-schema';
import { DEFAULT_TENANT, RUN_TASK_WORKFLOW, controlTaskQueue } from '../config/names';
import { catalogSchedulePrefix, toTemporalCron, type CompiledSchedule } from '../config/schedule';
import { taskAttributePairs } from '../config/search-attributes';
import { ScheduleNotFoundError } from './errors';

/** Memo Tideway puts on its schedules so the scaler and tools can read what a fire starts. */
export interface ScheduleMemo {
  taskType: string;
  group: string;
  lane: string;
  expectedTasks: number;
  source: 'catalog' | 'api';
  /** The app that owns the schedule (absent: the unnamed app); sync never touches another app's. */
  app?: string;
}

/** One schedule as `schedules list` shows it. */
export interface ScheduleSummary {
  scheduleId: string;
  taskType: string | undefined;
  lane: string | undefined;
  cron: string[];
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
  const memo: ScheduleMemo = {
    taskType: s.taskType,
    group: s.group,
    lane: s.lane,
    expectedTasks: s.expectedTasks,
    source: 'catalog',
    ...(s.app ? { app: s.app } : {}),
  };
  return {
    scheduleId: s.scheduleId,
    spec: { cronExpressions: [toTemporalCron(s.cron)], ...(s.timezone ? { timezone: s.timezone } : {}) },
    action: {
      type: 'startWorkflow',
      workflowType: RUN_TASK_WORKFLOW,
      taskQueue: controlTaskQueue(s.app),
      // Temporal appends the fire time to this ID, so each fire is one task, run once.
      workflowId: s.scheduleId,
      args: [{ type: s.taskType, input: s.input, lane: s.lane }],
      typedSearchAttributes: new TypedSearchAttributes(
        taskAttributePairs({ type: s.taskType, group: s.group, lane: s.lane, tenant: DEFAULT_TENANT, status: 'queued' }),
      ),
    },
    policies: { overlap: s.overlap, catchupWindow: '1m' },
    memo: { tideway: memo },
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
  private ownsCatalogSchedule(scheduleId: string, memo: ScheduleMemo | undefined): boolean {
    return scheduleId.startsWith(catalogSchedulePrefix(this.app)) && (memo?.app ?? undefined) === this.app;
  }

  /**
   * Makes the server match the catalog: creates missing schedules, updates changed ones, and
   * deletes this app's catalog schedules (prefix `tideway[.<app>].`) the catalog no longer names.
   * Pause state is kept.
   */
  async sync(catalog: Catalog): Promise<SyncReport> {
    if (catalog.app !== this.app)
      throw new Error(`schedules of app ${String(this.app)} cannot sync the catalog of app ${String(catalog.app)}`);
    const report: SyncReport = { created: [], updated: [], deleted: [] };
    const wanted = new Map(catalog.schedules.map((s) => [s.scheduleId, s]));
    const existing = new Set<string>();
    for await (const s of this.client.schedule.list()) {
      if (this.ownsCatalogSchedule(s.scheduleId, s.memo?.tideway as ScheduleMemo | undefined)) existing.add(s.scheduleId);
    }
    for (const [id, s] of wanted) {
      const opts = catalogScheduleOptions(s);
      if (!existing.has(id)) {
        await this.client.schedule.create(opts);
        report.created.push(id);
        continue;
      }
      await this.client.schedule.getHandle(id).update((prev) => ({
        ...prev,
        spec: opts.spec,
        action: opts.action,
        policies: { ...prev.policies, ...opts.policies },
      }));
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
      const memo = (s.memo?.tideway ?? undefined) as ScheduleMemo | undefined;
      if (!memo && !this.ownsCatalogSchedule(s.scheduleId, memo)) continue;
      if (memo && (memo.app ?? undefined) !== this.app) continue;
      const action = s.action as { workflowType?: string } | undefined;
      if (action?.workflowType && action.workflowType !== RUN_TASK_WORKFLOW) continue;
      out.push({
        scheduleId: s.scheduleId,
        taskType: memo?.taskType,
        lane: memo?.lane,
        cron: (s.spec as { cronExpressions?: string[] }).cronExpressions ?? [],
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
