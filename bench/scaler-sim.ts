/**
 * A day of load on a virtual clock, replayed through the live scaler code: the real `Scaler` loop,
 * policy, mean-duration learner and forecast signal, with a simulated task queue and pool in place
 * of Temporal and processes. Deterministic for a given seed.
 */
import { z } from 'zod';
import { defineCatalog, type Catalog } from '../config/catalog-schema';
import { cronFires } from '../config/schedule';
import { defineTask } from '../config/task';
import type { Actuator } from '../scaler/actuators/actuator';
import { compileScalerOptions, type ScalerOptions } from '../scaler/options';
import { Scaler } from '../scaler/scaler';
import { forecastSignal } from '../scaler/signals/forecast';
import type { Signal } from '../scaler/signals/signal';
import type { ScaledPool } from '../scaler/types';

export const DAY_S = 86_400;

/** The scenario the issue asks for, with every number in one place. */
export interface Scenario {
  seed: number;
  /** Start of the simulated day (UTC). */
  dayStart: number;
  taskSeconds: number;
  cron: string;
  cronTasks: number;
  /** Seconds over which one fire's tasks arrive (the schedule's workflow fans out). */
  cronSpreadS: number;
  trickle: { fromHour: number; toHour: number; perSecond: number };
  bursts: { count: number; minTasks: number; maxTasks: number; spreadS: number; fromHour: number; toHour: number };
  pool: { concurrency: number; minReplicas: number; maxReplicas: number; startupSeconds: number };
  /** DescribeTaskQueue answers are cached this long by the server. */
  statsCacheS: number;
  /** Rates are averaged over this window, as the server does. */
  rateWindowS: number;
  sloS: number;
  scaler: ScalerOptions;
}

export const DEFAULT_SCENARIO: Scenario = {
  seed: 20261126,
  dayStart: Date.parse('2026-11-26T00:00:00Z'),
  taskSeconds: 3,
  cron: '0 2 * * *',
  cronTasks: 20_000,
  cronSpreadS: 5,
  trickle: { fromHour: 9, toHour: 18, perSecond: 1.5 },
  bursts: { count: 5, minTasks: 1_500, maxTasks: 4_000, spreadS: 60, fromHour: 6, toHour: 23 },
  pool: { concurrency: 20, minReplicas: 1, maxReplicas: 60, startupSeconds: 20 },
  statsCacheS: 5,
  rateWindowS: 30,
  sloS: 60,
  scaler: { interval: '15s', targetDrainTime: '30s', stabilizationWindow: '5m', idleAfter: '5m', meanDuration: '3s' },
};

/** mulberry32: small, seedable, good enough for load shapes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function poisson(lambda: number, r: () => number): number {
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= r();
  } while (p > l);
  return k - 1;
}

/** The catalog the simulated pool belongs to: one task type with the nightly schedule. */
export function simCatalog(s: Scenario): Catalog {
  return defineCatalog({
    tasks: [
      defineTask({
        name: 'sim.work',
        group: 'sim',
        input: z.unknown(),
        handler: async () => null,
        schedules: [{ id: 'sim-nightly', cron: s.cron, timezone: 'UTC', input: null, expectedTasks: s.cronTasks }],
      }),
    ],
    pools: { sim: { normal: s.pool } },
  });
}

/** Arrivals per second over the day: the cron fire, the business-hours trickle and random bursts. */
export function arrivals(s: Scenario, catalog: Catalog): { perSecond: Int32Array; fires: number[]; bursts: number[] } {
  const r = rng(s.seed);
  const a = new Int32Array(DAY_S);
  const fires: number[] = [];
  for (const sc of catalog.schedules) {
    for (const at of forecastFires(sc.cron, s)) {
      fires.push(at);
      for (let i = 0; i < s.cronSpreadS; i++)
        a[at + i]! += Math.floor(s.cronTasks / s.cronSpreadS) + (i < s.cronTasks % s.cronSpreadS ? 1 : 0);
    }
  }
  for (let t = s.trickle.fromHour * 3600; t < s.trickle.toHour * 3600; t++) a[t]! += poisson(s.trickle.perSecond, r);
  const bursts: number[] = [];
  for (let b = 0; b < s.bursts.count; b++) {
    const at = Math.floor((s.bursts.fromHour + r() * (s.bursts.toHour - s.bursts.fromHour)) * 3600);
    const n = Math.floor(s.bursts.minTasks + r() * (s.bursts.maxTasks - s.bursts.minTasks));
    bursts.push(at);
    for (let i = 0; i < n; i++) a[Math.min(DAY_S - 1, at + Math.floor(r() * s.bursts.spreadS))]! += 1;
  }
  return { perSecond: a, fires, bursts };
}

function forecastFires(cron: string, s: Scenario): number[] {
  return cronFires(cron, new Date(s.dayStart), new Date(s.dayStart + DAY_S * 1000), 'UTC').map((d) =>
    Math.round((d.getTime() - s.dayStart) / 1000),
  );
}

export type PolicyName = 'static' | 'reactive' | 'tideway';

/** What one policy did over the day. */
export interface SimResult {
  policy: PolicyName;
  replicaHours: number;
  waitP95S: number;
  waitMaxS: number;
  /** Minutes in which some queued task had waited longer than the SLO. */
  minutesOverSlo: number;
  /** The same, within [fire - 10 min, fire + 60 min] of every cron fire. */
  minutesOverSloAroundFires: number;
  tasks: number;
  /** Per minute: replicas (incl. starting) and backlog at the minute's end. */
  series: { replicas: Int32Array; backlog: Int32Array };
  fires: number[];
}

/** Runs one policy over the day. `static` keeps max replicas; the others run the real Scaler. */
export async function simulate(policy: PolicyName, s: Scenario = DEFAULT_SCENARIO): Promise<SimResult> {
  const catalog = simCatalog(s);
  const load = arrivals(s, catalog);
  const dur = s.taskSeconds;
  const queue: [number, number][] = [];
  let head = 0;
  let backlog = 0;
  let inService = 0;
  const completions = new Int32Array(DAY_S + dur + 1);
  const waits = new Float64Array(3_601);
  const arrRing = new Int32Array(s.rateWindowS);
  const dispRing = new Int32Array(s.rateWindowS);
  let arrSum = 0;
  let dispSum = 0;
  let readyAt: number[] = policy === 'static' ? Array.from({ length: s.pool.maxReplicas }, () => 0) : [];
  let t = 0;
  let cached = { backlog: 0, age: 0, add: 0, disp: 0, at: -Infinity };

  const simSignal: Signal = {
    name: 'sim-queue',
    async read(pools: readonly ScaledPool[]) {
      // Backlog and rates come through the server's cache, as DescribeTaskQueue does.
      if (t - cached.at >= s.statsCacheS) {
        const age = head < queue.length ? t - queue[head]![0] : 0;
        cached = { backlog, age, add: arrSum / s.rateWindowS, disp: dispSum / s.rateWindowS, at: t };
      }
      return new Map(
        pools.map((p) => [
          p.key,
          { backlog: cached.backlog, backlogAgeMs: cached.age * 1000, addRate: cached.add, dispatchRate: cached.disp, inFlight: inService },
        ]),
      );
    },
  };
  const actuator: Actuator = {
    type: 'dry-run',
    replicas: async () => readyAt.length,
    async scale(_p, n) {
      if (n > readyAt.length) readyAt.push(...Array.from({ length: n - readyAt.length }, () => t + s.pool.startupSeconds));
      else readyAt = readyAt.slice(0, n); // newest (last started) go first
    },
    close: async () => undefined,
  };
  let scaler: Scaler | undefined;
  if (policy !== 'static') {
    const options = compileScalerOptions({ ...s.scaler, pools: ['sim.normal'], forecast: policy === 'tideway' }, catalog.pools);
    const signals: Signal[] = [simSignal];
    if (policy === 'tideway') signals.push(forecastSignal({ catalog, horizonMs: options.forecastHorizonMs }));
    scaler = new Scaler({ options, signals, actuator, now: () => s.dayStart + t * 1000 });
  }
  const intervalS = scaler ? scaler.options.intervalMs / 1000 : Infinity;

  const over = new Uint8Array(1_440);
  const series = { replicas: new Int32Array(1_440), backlog: new Int32Array(1_440) };
  let replicaSeconds = 0;
  let tasks = 0;
  for (t = 0; t < DAY_S; t++) {
    const a = load.perSecond[t]!;
    if (a > 0) {
      queue.push([t, a]);
      backlog += a;
      tasks += a;
    }
    inService -= completions[t]!;
    const ready = readyAt.filter((r) => r <= t).length;
    let free = Math.max(0, ready * s.pool.concurrency - inService);
    let dispatched = 0;
    while (free > 0 && head < queue.length) {
      const chunk = queue[head]!;
      const n = Math.min(free, chunk[1]);
      waits[Math.min(3_600, t - chunk[0])]! += n;
      chunk[1] -= n;
      free -= n;
      dispatched += n;
      if (chunk[1] === 0) head++;
    }
    backlog -= dispatched;
    inService += dispatched;
    completions[t + dur]! += dispatched;
    const slot = t % s.rateWindowS;
    arrSum += a - arrRing[slot]!;
    dispSum += dispatched - dispRing[slot]!;
    arrRing[slot] = a;
    dispRing[slot] = dispatched;
    if (head < queue.length && t - queue[head]![0] > s.sloS) over[Math.floor(t / 60)] = 1;
    if (scaler && t % intervalS === 0) await scaler.round();
    replicaSeconds += readyAt.length;
    if (t % 60 === 59) {
      series.replicas[Math.floor(t / 60)] = readyAt.length;
      series.backlog[Math.floor(t / 60)] = backlog;
    }
  }
  const pct = (q: number) => {
    let acc = 0;
    for (let w = 0; w < waits.length; w++) {
      acc += waits[w]!;
      if (acc >= q * tasks) return w;
    }
    return waits.length - 1;
  };
  let maxWait = 0;
  waits.forEach((n, w) => n > 0 && (maxWait = w));
  const around = new Set<number>();
  for (const f of load.fires)
    for (let m = Math.max(0, Math.floor(f / 60) - 10); m < Math.min(1_440, Math.floor(f / 60) + 60); m++) around.add(m);
  return {
    policy,
    replicaHours: replicaSeconds / 3600,
    waitP95S: pct(0.95),
    waitMaxS: maxWait,
    minutesOverSlo: over.reduce((x, y) => x + y, 0),
    minutesOverSloAroundFires: [...around].reduce((x, m) => x + over[m]!, 0),
    tasks,
    series,
    fires: load.fires,
  };
}
