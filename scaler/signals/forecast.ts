import type { Client } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common/lib/time';
import { z } from 'zod';
import type { Catalog } from '../../config/catalog-schema';
import { LANES, TASK_WORKFLOW_TYPES, type Lane } from '../../config/names';
import { cronFires, type CompiledSchedule } from '../../config/schedule';
import { readCatalogScheduleMemo } from '../../config/schedule-memo';
import { SignalError } from '../errors';
import { poolKey, type ForecastFire, type PoolKey, type ScaledPool } from '../types';
import { BatchSizeLearner } from './batch-size';
import { FireSizeLearner, visibilityArrivalCounter } from './fire-size';
import type { Signal, SignalReading } from './signal';

/** A schedule reduced to what the forecast needs: which pool it feeds and how many tasks a fire brings. */
export interface ForecastSource {
  scheduleId: string;
  taskType: string;
  group: string;
  lane: Lane;
  /** Tasks (for a batch type, shards) one fire brings. */
  expectedTasks: number;
  /** `learned` when past fires gave `expectedTasks` (a batch's last runs, a task schedule's arrivals). @default 'declared' */
  sizeSource?: 'declared' | 'learned';
  /** Times (epoch ms) this schedule really fired, for learning its size; absent = none known. */
  pastFires?(): Promise<number[]> | number[];
  /** Set for a batch type: its `maxParallel`. */
  maxParallel?: number;
  /** Fire times in [from, to) as epoch ms. */
  fires(from: number, to: number): Promise<number[]> | number[];
  source: ForecastFire['source'];
}

/** A batch type's parallel cap, when `taskType` is one in `catalog`. */
function batchCap(catalog: Catalog | undefined, taskType: string): Pick<ForecastSource, 'maxParallel'> {
  const batch = catalog?.get(taskType)?.batch;
  return batch ? { maxParallel: batch.maxParallel } : {};
}

/** A catalog schedule as a forecast source, expanded with cron-parser in its time zone. */
export function catalogSource(s: CompiledSchedule, catalog?: Catalog): ForecastSource {
  return {
    scheduleId: s.scheduleId,
    taskType: s.taskType,
    group: s.group,
    lane: s.lane,
    expectedTasks: s.expectedTasks,
    ...batchCap(catalog, s.taskType),
    source: 'catalog',
    fires: (from, to) => cronFires(s.cron, new Date(from), new Date(to), s.timezone).map((d) => d.getTime()),
  };
}

/** Expands sources over [from, to) and groups the fires by pool, soonest first. */
export async function expandForecast(sources: readonly ForecastSource[], from: number, to: number): Promise<Map<PoolKey, ForecastFire[]>> {
  const out = new Map<PoolKey, ForecastFire[]>();
  for (const s of sources) {
    const key = poolKey(s);
    const list = out.get(key) ?? [];
    for (const at of await s.fires(from, to)) {
      list.push({
        at,
        scheduleId: s.scheduleId,
        taskType: s.taskType,
        expectedTasks: s.expectedTasks,
        source: s.source,
        sizeSource: s.sizeSource ?? 'declared',
        ...(s.maxParallel !== undefined ? { maxParallel: s.maxParallel } : {}),
      });
    }
    out.set(key, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.at - b.at);
  return out;
}

const envelopeArgSchema = z.object({ type: z.string(), lane: z.enum(LANES).optional() }).loose();

/**
 * Temporal Schedules on the server that start a task (`runTask`, or `runBatch` for a batch type): the pool comes from the schedule's
 * `tideway` memo when present, otherwise from decoding the action's envelope against the catalog
 * (expected tasks 1). Fire times come from the server's own ListScheduleMatchingTimes, which
 * already applies calendars, intervals, skips and time zones exactly as the schedule will fire.
 * Paused schedules, and schedules that start another app's tasks, forecast nothing.
 */
export async function serverSources(client: Client, catalog: Catalog): Promise<ForecastSource[]> {
  const namespace = client.options.namespace;
  const out: ForecastSource[] = [];
  for await (const sum of client.schedule.list()) {
    const workflowType = sum.action?.workflowType;
    if (sum.state.paused || workflowType === undefined || !TASK_WORKFLOW_TYPES.includes(workflowType)) continue;
    let meta: Pick<ForecastSource, 'taskType' | 'group' | 'lane' | 'expectedTasks'> | undefined;
    const memo = readCatalogScheduleMemo(sum.memo);
    // Another app's schedules on the same namespace fire into its own pools, not this catalog's.
    if (memo && (memo.app ?? undefined) !== catalog.app) continue;
    if (memo) meta = { taskType: memo.taskType, group: memo.group, lane: memo.lane, expectedTasks: memo.expectedTasks };
    else {
      const desc = await client.schedule.getHandle(sum.scheduleId).describe();
      if (desc.action.type === 'startWorkflow' && desc.action.taskQueue !== catalog.controlQueue) continue;
      const env = envelopeArgSchema.safeParse(desc.action.args?.[0]);
      const task = env.success ? catalog.get(env.data.type) : undefined;
      if (env.success && task) meta = { taskType: task.name, group: task.group, lane: env.data.lane ?? task.lane, expectedTasks: 1 };
    }
    if (!meta) continue;
    const scheduleId = sum.scheduleId;
    const taken = sum.info.recentActions.map((a) => a.scheduledAt.getTime());
    out.push({
      scheduleId,
      ...meta,
      pastFires: () => taken,
      ...batchCap(catalog, meta.taskType),
      source: 'server',
      fires: async (from, to) => {
        const r = await client.workflowService.listScheduleMatchingTimes({
          namespace,
          scheduleId,
          startTime: msToTs(from),
          endTime: msToTs(to),
        });
        return (r.startTime ?? []).map((t) => tsToMs(t)).filter((t) => t >= from && t < to);
      },
    });
  }
  return out;
}

export interface ForecastSignalOptions {
  catalog: Catalog;
  horizonMs: number;
  /** Read Temporal Schedules from the server too (off in pure tests). */
  client?: Client;
  /** Extra sources (tests, the simulator). */
  extra?: readonly ForecastSource[];
  /** Learn batch schedules' sizes from their last completed runs (needs `client`). @default true */
  learnBatchSize?: boolean;
  /**
   * Learns task schedules' sizes from the arrivals their past fires brought. @default with `client`,
   * one counting from visibility; `false` keeps every declared size.
   */
  fireSizes?: FireSizeLearner | false;
}

/**
 * A task schedule with the size its past fires brought; the declared size until a fire's window
 * ended, or when counting fails (the forecast never fails for want of a learned size).
 */
async function withLearnedFireSize(s: ForecastSource, learner: FireSizeLearner, now: number): Promise<ForecastSource> {
  if (s.maxParallel !== undefined || !s.pastFires) return s;
  const past = await s.pastFires();
  const learned = await learner.learn(s, past, now).catch(() => undefined);
  return learned ? { ...s, expectedTasks: learned.tasks, sizeSource: 'learned' } : s;
}

/**
 * A batch schedule on the server with the size its last completed runs had; the declared size until
 * one completed, or when reading them fails (the forecast never fails for want of a learned size).
 */
async function withLearnedSize(s: ForecastSource, learner: BatchSizeLearner): Promise<ForecastSource> {
  if (s.maxParallel === undefined) return s;
  const learned = await learner.learn(s.scheduleId, s.taskType).catch(() => undefined);
  return learned ? { ...s, expectedTasks: learned.shards, sizeSource: 'learned' } : s;
}

/**
 * Forecast signal: cron fires over the horizon for every pool, from catalog schedules and Temporal
 * Schedules on the server. A schedule present in both is taken from the server (it is what fires).
 */
export function forecastSignal(opts: ForecastSignalOptions): Signal {
  const learner = opts.client && opts.learnBatchSize !== false ? new BatchSizeLearner(opts.client) : undefined;
  const fireSizes =
    opts.fireSizes === false
      ? undefined
      : (opts.fireSizes ??
        (opts.client ? new FireSizeLearner(visibilityArrivalCounter(opts.client, opts.catalog.controlQueue)) : undefined));
  return {
    name: 'forecast',
    async read(pools: readonly ScaledPool[], now: number): Promise<SignalReading> {
      let server: ForecastSource[] = [];
      if (opts.client) {
        try {
          server = await serverSources(opts.client, opts.catalog);
        } catch (err) {
          throw new SignalError('forecast', `listing schedules failed: ${(err as Error).message}`, { cause: err });
        }
      }
      if (learner) server = await Promise.all(server.map((s) => withLearnedSize(s, learner)));
      const onServer = new Set(server.map((s) => s.scheduleId));
      const sources = [
        ...server,
        ...opts.catalog.schedules.filter((s) => !onServer.has(s.scheduleId)).map((s) => catalogSource(s, opts.catalog)),
        ...(opts.extra ?? []),
      ];
      const sized = fireSizes ? await Promise.all(sources.map((x) => withLearnedFireSize(x, fireSizes, now))) : sources;
      const fires = await expandForecast(sized, now, now + opts.horizonMs);
      const out: SignalReading = new Map();
      for (const p of pools) out.set(p.key, { fires: fires.get(p.key) ?? [] });
      return out;
    },
  };
}
