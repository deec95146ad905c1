/**
 * Days of load on a virtual clock, replayed through the live scaler code: the real `Scaler` loop,
 * policy, mean-duration learner, forecast signal and fire-size learner, with a simulated task queue
 * and pool in place of Temporal and processes. Deterministic for a given seed.
 */
import { z } from 'zod';
import { defineCatalog, type Catalog } from '../config/catalog-schema';
import { cronFires } from '../config/schedule';
import { defineTask } from '../config/task';
import type { Actuator } from '../scaler/actuators/actuator';
import { compileScalerOptions, type ScalerOptions } from '../scaler/options';
import { Scaler } from '../scaler/scaler';
import { FireSizeLearner } from '../scaler/signals/fire-size';
import { forecastSignal, type ForecastSource } from '../scaler/signals/forecast';
import type { Signal } from '../scaler/signals/signal';
import type { ScaledPool } from '../scaler/types';

export const DAY_S = 86_400;

/** The scenario, with every number in one place. */
export interface Scenario {
  seed: number;
  /** Start of the first simulated day (UTC; a Monday, so weekends fall on days 6-7 and 13-14). */
  dayStart: number;
  days: number;
  taskSeconds: number;
  /** The nightly schedule (weekdays only: no fire on weekends). */
  cron: string;
  /** Mean tasks one fire brings… */
  cronTasks: number;
  /** …varying by up to ± this share from night to night. */
  cronJitter: number;
  /** Seconds over which one fire's tasks arrive (the schedule's workflow fans out). */
  cronSpreadS: number;
  /** Business-hours trickle, weekdays only. */
  trickle: { fromHour: number; toHour: number; perSecond: number };
  /** Random bursts per day, any day. */
  bursts: { perDay: number; minTasks: number; maxTasks: number; spreadS: number; fromHour: number; toHour: number };
  pool: { concurrency: number; minReplicas: number; maxReplicas: number; startupSeconds: number };
  /** A replica told to stop is billed this long more (in-flight tasks finish, the process exits). */
  drainSeconds: number;
  /** DescribeTaskQueue answers are cached this long by the server. */
  statsCacheS: number;
  /** Rates are averaged over this window, as the server does. */
  rateWindowS: number;
  sloS: number;
  scaler: ScalerOptions;
}

export const DEFAULT_SCENARIO: Scenario = {
  seed: 20261123,
  dayStart: Date.parse('2026-11-23T00:00:00Z'),
  days: 14,
  taskSeconds: 3,
  cron: '0 2 * * 1-5',
  cronTasks: 20_000,
  cronJitter: 0.15,
  cronSpreadS: 5,
  trickle: { fromHour: 9, toHour: 18, perSecond: 1.5 },
  bursts: { perDay: 5, minTasks: 1_500, maxTasks: 4_000, spreadS: 60, fromHour: 6, toHour: 23 },
  pool: { concurrency: 20, minReplicas: 1, maxReplicas: 60, startupSeconds: 20 },
  drainSeconds: 10,
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

/**
 * The catalog the simulated pool belongs to: one task type, with the nightly schedule declared
 * (`expectedTasks` = the mean fire size) unless `withSchedule` is false; the simulator itself gives
 * the forecast the schedule as a source with its past fires.
 */
export function simCatalog(s: Scenario, withSchedule = true): Catalog {
  return defineCatalog({
    tasks: [
      defineTask({
        name: 'sim.work',
        group: 'sim',
        input: z.unknown(),
        handler: async () => null,
        ...(withSchedule
          ? { schedules: [{ id: 'sim-nightly', cron: s.cron, timezone: 'UTC', input: null, expectedTasks: s.cronTasks }] }
          : {}),
      }),
    ],
    pools: { sim: { normal: s.pool } },
  });
}

const isWeekend = (s: Scenario, t: number) => [0, 6].includes(new Date(s.dayStart + t * 1000).getUTCDay());

/** Arrivals per second over all days: the cron fires, the weekday trickle and random bursts. */
export function arrivals(s: Scenario): { perSecond: Int32Array; fires: number[]; fireSizes: number[]; bursts: number[] } {
  const r = rng(s.seed);
  const total = DAY_S * s.days;
  const a = new Int32Array(total);
  const fires = cronFires(s.cron, new Date(s.dayStart), new Date(s.dayStart + total * 1000), 'UTC').map((d) =>
    Math.round((d.getTime() - s.dayStart) / 1000),
  );
  const fireSizes: number[] = [];
  for (const at of fires) {
    const n = Math.round(s.cronTasks * (1 + (r() * 2 - 1) * s.cronJitter));
    fireSizes.push(n);
    for (let i = 0; i < s.cronSpreadS; i++) a[at + i]! += Math.floor(n / s.cronSpreadS) + (i < n % s.cronSpreadS ? 1 : 0);
  }
  const bursts: number[] = [];
  for (let d = 0; d < s.days; d++) {
    const day = d * DAY_S;
    if (!isWeekend(s, day))
      for (let t = day + s.trickle.fromHour * 3600; t < day + s.trickle.toHour * 3600; t++) a[t]! += poisson(s.trickle.perSecond, r);
    for (let b = 0; b < s.bursts.perDay; b++) {
      const at = day + Math.floor((s.bursts.fromHour + r() * (s.bursts.toHour - s.bursts.fromHour)) * 3600);
      const n = Math.floor(s.bursts.minTasks + r() * (s.bursts.maxTasks - s.bursts.minTasks));
      bursts.push(at);
      for (let i = 0; i < n; i++) a[Math.min(total - 1, at + Math.floor(r() * s.bursts.spreadS))]! += 1;
    }
  }
  return { perSecond: a, fires, fireSizes, bursts };
}

/**
 * A policy: `static` keeps max replicas; `reactive` runs the real Scaler on backlog only; `tideway`
 * adds the forecast, whose declared `expectedTasks` is the mean fire size × `declaredFactor`
 * (forecast error), learned from past fires when `learn` is set.
 */
export interface PolicySpec {
  label: string;
  kind: 'static' | 'reactive' | 'tideway';
  declaredFactor?: number;
  learn?: boolean;
}

export type PolicyName = PolicySpec['kind'];

/** What one policy did over the days. */
export interface SimResult {
  policy: PolicySpec;
  replicaHours: number;
  /** Per day: replica-hours (draining billed) and minutes in which a queued task had waited past the SLO. */
  perDay: { replicaHours: number; minutesOverSlo: number; fire: boolean }[];
  /** Per fire: minutes over the SLO within [fire − 10 min, fire + 60 min]. */
  perFireMinutesOverSlo: number[];
  waitP95S: number;
  waitMaxS: number;
  minutesOverSlo: number;
  tasks: number;
  /** Per minute: replicas (incl. starting and draining) and backlog at the minute's end. */
  series: { replicas: Int32Array; backlog: Int32Array };
  fires: number[];
  fireSizes: number[];
  /** What the forecast expected of each fire (tideway only): the declared or learned size at the fire. */
  expectedAtFire: number[];
}

/** Runs one policy over all the scenario's days. */
export async function simulate(policy: PolicySpec, s: Scenario = DEFAULT_SCENARIO): Promise<SimResult> {
  const catalog = simCatalog(s, false);
  const load = arrivals(s);
  const total = DAY_S * s.days;
  const dur = s.taskSeconds;
  const cum = new Float64Array(total + 1);
  for (let i = 0; i < total; i++) cum[i + 1] = cum[i]! + load.perSecond[i]!;
  const queue: [number, number][] = [];
  let head = 0;
  let backlog = 0;
  let inService = 0;
  const completions = new Int32Array(total + dur + 1);
  const waits = new Float64Array(3_601);
  const arrRing = new Int32Array(s.rateWindowS);
  const dispRing = new Int32Array(s.rateWindowS);
  let arrSum = 0;
  let dispSum = 0;
  let readyAt: number[] = policy.kind === 'static' ? Array.from({ length: s.pool.maxReplicas }, () => 0) : [];
  let drainingUntil: number[] = [];
  let t = 0;
  let cached = { backlog: 0, age: 0, add: 0, disp: 0, at: -Infinity };
  const nowMs = () => s.dayStart + t * 1000;

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
      else {
        // Newest (last started) go first, and each is billed while it drains.
        drainingUntil.push(...readyAt.slice(n).map(() => t + s.drainSeconds));
        readyAt = readyAt.slice(0, n);
      }
    },
    close: async () => undefined,
  };
  const declared = Math.round(s.cronTasks * (policy.declaredFactor ?? 1));
  let learned: number | undefined;
  let scaler: Scaler | undefined;
  if (policy.kind !== 'static') {
    const options = compileScalerOptions({ ...s.scaler, pools: ['sim.normal'], forecast: policy.kind === 'tideway' }, catalog.pools);
    const signals: Signal[] = [simSignal];
    if (policy.kind === 'tideway') {
      const toS = (ms: number) => Math.max(0, Math.min(total, Math.floor((ms - s.dayStart) / 1000)));
      const learner = policy.learn
        ? new FireSizeLearner(async (_pool, from, to) => cum[toS(to)]! - cum[toS(from)]!, { windowMs: 600_000 })
        : undefined;
      const source: ForecastSource = {
        scheduleId: 'sim-nightly',
        taskType: 'sim.work',
        group: 'sim',
        lane: 'normal',
        expectedTasks: declared,
        source: 'server',
        fires: (from, to) => cronFires(s.cron, new Date(from), new Date(to), 'UTC').map((d) => d.getTime()),
        // The fires that really happened before now (a Temporal Schedule's recent actions).
        pastFires: () => load.fires.map((f) => s.dayStart + f * 1000).filter((at) => at <= nowMs()),
      };
      const forecast = forecastSignal({ catalog, horizonMs: options.forecastHorizonMs, extra: [source], fireSizes: learner ?? false });
      // Records what the forecast expected (for the report), then passes the reading on unchanged.
      signals.push({
        name: forecast.name,
        async read(pools, now) {
          const r = await forecast.read(pools, now);
          const f = r.get('sim.normal')?.fires?.[0];
          if (f) learned = f.expectedTasks;
          return r;
        },
      });
    }
    scaler = new Scaler({ options, signals, actuator, now: nowMs });
  }
  const intervalS = scaler ? scaler.options.intervalMs / 1000 : Infinity;

  const minutes = total / 60;
  const over = new Uint8Array(minutes);
  const series = { replicas: new Int32Array(minutes), backlog: new Int32Array(minutes) };
  const replicaSecondsPerDay = new Float64Array(s.days);
  const expectedAtFire: number[] = [];
  let tasks = 0;
  let nextFire = 0;
  for (t = 0; t < total; t++) {
    if (load.fires[nextFire] === t) {
      expectedAtFire.push(policy.kind === 'tideway' ? (learned ?? declared) : 0);
      nextFire++;
    }
    const a = load.perSecond[t]!;
    if (a > 0) {
      queue.push([t, a]);
      backlog += a;
      tasks += a;
    }
    inService -= completions[t]!;
    let ready = 0;
    for (const r of readyAt) if (r <= t) ready++;
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
    if (drainingUntil.length > 0) drainingUntil = drainingUntil.filter((u) => u > t);
    replicaSecondsPerDay[Math.floor(t / DAY_S)]! += readyAt.length + drainingUntil.length;
    if (t % 60 === 59) {
      series.replicas[Math.floor(t / 60)] = readyAt.length + drainingUntil.length;
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
  const perDay = Array.from({ length: s.days }, (_, d) => ({
    replicaHours: replicaSecondsPerDay[d]! / 3600,
    minutesOverSlo: over.subarray(d * 1_440, (d + 1) * 1_440).reduce((x, y) => x + y, 0),
    fire: load.fires.some((f) => Math.floor(f / DAY_S) === d),
  }));
  const perFireMinutesOverSlo = load.fires.map((f) => {
    const m0 = Math.max(0, Math.floor(f / 60) - 10);
    return over.subarray(m0, Math.min(minutes, Math.floor(f / 60) + 60)).reduce((x, y) => x + y, 0);
  });
  return {
    policy,
    replicaHours: replicaSecondsPerDay.reduce((x, y) => x + y, 0) / 3600,
    perDay,
    perFireMinutesOverSlo,
    waitP95S: pct(0.95),
    waitMaxS: maxWait,
    minutesOverSlo: over.reduce((x, y) => x + y, 0),
    tasks,
    series,
    fires: load.fires,
    fireSizes: load.fireSizes,
    expectedAtFire,
  };
}
