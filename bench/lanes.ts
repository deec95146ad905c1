import { commandLine, emitResult, machineInfo } from './lib-report';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../config/duration';
import type { Lane } from '../config/names';
import type { WorkerProcess } from '../workers/supervisor';
import {
  completedBetween,
  completionWindows,
  drainFlood,
  highLane,
  hops,
  p,
  queueWaits,
  settle,
  type HighSample,
  type Wait,
} from './lib-lanes';
import { runBench, startBenchStack, type BenchStack } from './lib-stack';

/**
 * `npm run bench:lanes`: the hard case of issue 12, in one run, on real worker processes (control,
 * and demo pools for the high, normal and low lanes). Every flood is handed over in ONE
 * `submitMany` call (durable intake); the control worker's intake starts the tasks at the rate its
 * admission gate allows, so each admission condition restarts the control worker with
 * TIDEWAY_ADMISSION set to it. Phases:
 *  1. capacity C: low-lane completions/s of a CAP_FLOOD-task flood with admission off, over CAP_S
 *     seconds once the intake has started all of it (while the starts last they compete with the
 *     work; that rate is printed too);
 *  2. the high lane alone at HIGH_RPS: its queue wait (submit → handler start, from the pools'
 *     ledger), in CALM_S rounds run before each of the three conditions and pooled;
 *  3. a FLOOD-task low-lane flood under (a) admission off, (b) fixed FIXED, (c) adaptive, while the
 *     high lane runs at HIGH_RPS for FLOOD_S from the moment of the call;
 *  4. (adaptive) a FLOOD-task normal-lane flood; two tenants flooding the low lane with FLOOD/2 each.
 * Completions are runTask workflows closed as Completed, counted in visibility by CloseTime (per
 * tenant and lane). Between conditions the previous flood is cancelled (`cancelBulk`) and its open
 * tasks terminated until none is left. Prints one table, each condition's detail, and the issue's
 * goals computed from the figures.
 * Knobs (BENCH_LANES_*): FLOOD (20000), HIGH_RPS (5), FLOOD_S (90 s of high-lane samples per
 * condition), CALM_S (30 s before each condition), CAP_FLOOD (4000), CAP_WARM_S (5) and CAP_S (30) for capacity,
 * EXTRA_S (60 s for the normal-lane and two-tenant floods), SLEEP_MS (100 ms per task), FIXED
 * (`low=2/s`), TRACE=N (hops of each condition's N slowest high-lane samples); QUICK=1 smoke-tests
 * in a few minutes (2,000-task floods, short phases). TIDEWAY_HIGH_WAIT_OBJECTIVE (250ms) is passed
 * to the control worker and used by the goal.
 */
const QUICK = process.env.BENCH_LANES_QUICK === '1';
const knob = (name: string, full: number, quick: number) => Number(process.env[`BENCH_LANES_${name}`] ?? (QUICK ? quick : full));
const FLOOD = knob('FLOOD', 20_000, 2_000);
const HIGH_RPS = knob('HIGH_RPS', 5, 5);
const FLOOD_S = knob('FLOOD_S', 90, 20);
const CALM_S = knob('CALM_S', 30, 10);
const CAP_FLOOD = knob('CAP_FLOOD', 4_000, 1_500);
const CAP_WARM_S = knob('CAP_WARM_S', 5, 3);
const CAP_S = knob('CAP_S', 30, 10);
const EXTRA_S = knob('EXTRA_S', 60, 20);
const SLEEP_MS = knob('SLEEP_MS', 100, 100);
const TRACE = knob('TRACE', 0, 0);
const FIXED = process.env.BENCH_LANES_FIXED ?? 'low=2/s';
const OBJECTIVE = process.env.TIDEWAY_HIGH_WAIT_OBJECTIVE ?? '250ms';
const OBJECTIVE_MS = parseDuration(OBJECTIVE);
const WINDOW_MS = 10_000;
/** Visibility records a close a moment after it happens. */
const VISIBILITY_LAG_MS = 2_000;

const say = (l: string) => process.stdout.write(`${l}\n`);
const RUN = Date.now().toString(36);
const ms = (x: number) => (Number.isNaN(x) ? '-' : `${Math.round(x)} ms`);
const rate = (x: number) => (Number.isNaN(x) ? '-' : `${x.toFixed(1)}/s`);
const pct = (x: number) => (Number.isNaN(x) ? '-' : `${Math.round(x * 100)}%`);

/** One flood condition. */
interface Condition {
  key: string;
  title: string;
  /** TIDEWAY_ADMISSION of the control worker. */
  admission: string;
  lane: Lane;
  /** One bulk per tenant, `tasks` tasks each. */
  tenants: string[];
  tasks: number;
  /** How long the high lane runs (and completions are counted) from the moment of the call. */
  seconds: number;
  /** High lane alone before the flood (pooled into phase 2). */
  calmSeconds: number;
}

interface FloodResult {
  c: Condition;
  calm: Wait[];
  waits: Wait[];
  /** Wall time of each tenant's submitMany call, and what it accepted. */
  accepts: { tenant: string; ms: number; accepted: number; rejected: number }[];
  /** Completions per 10 s window, per tenant. */
  windows: Map<string, number[]>;
  /** Completions over the whole measured window, per tenant. */
  completed: Map<string, number>;
  /** What the intake had started by the end of the window, over all bulks. */
  started: number;
  terminated: number;
  /** How long cancelling and terminating the rest took, and then waiting for empty queues. */
  drainMs: number;
  settleMs: number;
}

/** The bench stack, and a way to (re)start its control worker (which runs the intake) with an admission mode. */
interface Stack {
  s: BenchStack;
  restartControl(admission: string): Promise<void>;
  /** Every bulk the bench started (cancelled at the end on a shared server). */
  bulkIds: string[];
}

function withControl(s: BenchStack): Stack {
  let control: WorkerProcess | undefined;
  return {
    s,
    bulkIds: [],
    async restartControl(admission) {
      await control?.stop(15_000);
      control = await s.spawn({ role: 'control' }, { TIDEWAY_ADMISSION: admission, TIDEWAY_HIGH_WAIT_OBJECTIVE: OBJECTIVE });
    },
  };
}

/** Hands `tasks` demo.sleep tasks of `lane` for `tenant` to submitMany in one call; returns its wall time. */
async function bulk(st: Stack, bulkId: string, tenant: string, lane: Lane, tasks: number) {
  const items = Array.from({ length: tasks }, (_, i) => ({
    type: 'demo.sleep',
    input: { ms: SLEEP_MS },
    lane,
    tenant,
    taskId: `${bulkId}-${i}`,
  }));
  st.bulkIds.push(bulkId);
  const t0 = Date.now();
  const r = await st.s.client.submitMany(items, { bulkId, tenant });
  return { tenant, ms: Date.now() - t0, accepted: r.accepted, rejected: r.rejected };
}

async function runCondition(st: Stack, c: Condition): Promise<FloodResult> {
  const stack = st.s;
  const tag = `bl-${c.key}-${RUN}`;
  await st.restartControl(c.admission);
  let calm: Wait[] = [];
  if (c.calmSeconds > 0) {
    say(`  ${c.calmSeconds} s high lane alone...`);
    const samples = await highLane(stack, { tag: `${tag}-calm`, seconds: c.calmSeconds, rps: HIGH_RPS, sleepMs: SLEEP_MS });
    calm = await queueWaits(stack, samples, `${tag}-calm`);
  }
  say(`  flood: ${c.tenants.length} × ${c.tasks} ${c.lane}-lane tasks in one submitMany each; high lane for ${c.seconds} s...`);
  const t0 = Date.now();
  const tenants = c.tenants.map((t) => `${t}-${RUN}`);
  const bulkIds = tenants.map((t) => `${tag}-${t}`);
  const high = highLane(stack, { tag: `${tag}-high`, seconds: c.seconds, rps: HIGH_RPS, sleepMs: SLEEP_MS });
  const accepts = await Promise.all(tenants.map((t, i) => bulk(st, bulkIds[i]!, t, c.lane, c.tasks)));
  const samples: HighSample[] = await high;
  const t1 = t0 + c.seconds * 1000;
  await sleep(Math.max(0, t1 + VISIBILITY_LAG_MS - Date.now()));
  const windows = new Map<string, number[]>();
  const completed = new Map<string, number>();
  for (const t of tenants) {
    windows.set(t, await completionWindows(stack, t, c.lane, t0, t1, WINDOW_MS));
    completed.set(t, await completedBetween(stack, t, c.lane, t0, t1));
  }
  const statuses = await Promise.all(bulkIds.map((id) => stack.client.bulkStatus(id)));
  const started = statuses.reduce((n, s) => n + s.started, 0);
  const waits = await queueWaits(stack, samples, `${tag}-high`);
  say(`  draining what is left of the flood...`);
  const d0 = Date.now();
  const terminated = await drainFlood(stack, bulkIds, tenants);
  const drainMs = Date.now() - d0;
  const settleMs = await settle(stack);
  return { c, calm, waits, accepts, windows, completed, started, terminated, drainMs, settleMs };
}

/**
 * Capacity C: how many low-lane tasks per second the server and pools complete when they have
 * nothing else to do. A CAP_FLOOD-task flood goes in with admission off; once the intake has
 * started all of it (the starts compete with the work while they last), completions are counted
 * over CAP_S seconds, CAP_WARM_S after the last start. Also returns the completions/s while the
 * intake was still starting (the flood arriving all at once).
 */
async function capacity(st: Stack): Promise<{ c: number; whileStarting: number; startS: number; windows: number[]; ranOut: boolean }> {
  const stack = st.s;
  await st.restartControl('off');
  const tenant = `cap-${RUN}`;
  const bulkId = `bl-cap-${RUN}`;
  const t0 = Date.now();
  await bulk(st, bulkId, tenant, 'low', CAP_FLOOD);
  const deadline = t0 + 10 * 60_000;
  while ((await stack.client.bulkStatus(bulkId)).pending > 0) {
    if (Date.now() > deadline) throw new Error('bench:lanes: the capacity flood was not all started after 10 min');
    await sleep(500);
  }
  const startedAll = Date.now();
  const from = startedAll + CAP_WARM_S * 1000;
  const to = from + CAP_S * 1000;
  await sleep(Math.max(0, to + VISIBILITY_LAG_MS - Date.now()));
  const n = await completedBetween(stack, tenant, 'low', from, to);
  const windows = await completionWindows(stack, tenant, 'low', from, to, WINDOW_MS);
  const early = await completedBetween(stack, tenant, 'low', t0, startedAll);
  const done = await completedBetween(stack, tenant, 'low', 0, to);
  await drainFlood(stack, [bulkId], [tenant]);
  await settle(stack);
  return {
    c: n / CAP_S,
    whileStarting: early / ((startedAll - t0) / 1000),
    startS: (startedAll - t0) / 1000,
    windows,
    ranOut: done >= CAP_FLOOD,
  };
}

async function main(): Promise<void> {
  if (OBJECTIVE_MS === undefined) throw new Error(`TIDEWAY_HIGH_WAIT_OBJECTIVE: not a duration: ${OBJECTIVE}`);
  const machine = machineInfo();
  const stack = await startBenchStack('lanes', say);
  const st = withControl(stack);
  try {
    await Promise.all((['high', 'normal', 'low'] as const).map((lane) => stack.spawn({ role: 'pool', group: 'demo', lane })));
    say(
      `demo.sleep ${SLEEP_MS} ms tasks; high lane ${HIGH_RPS}/s; floods of ${FLOOD} in one submitMany call; ` +
        `high-lane wait objective ${OBJECTIVE}${QUICK ? '; QUICK mode' : ''}`,
    );
    await st.restartControl('off');
    // Warm-up: the first tasks pay connection and cache set-up; keep them out of the figures.
    await queueWaits(
      stack,
      await highLane(stack, { tag: `bl-warm-${RUN}`, seconds: 3, rps: HIGH_RPS, sleepMs: SLEEP_MS }),
      `bl-warm-${RUN}`,
    );

    say(`phase 1: capacity, ${CAP_FLOOD} low-lane tasks with admission off; ${CAP_S} s window once all are started...`);
    const cap = await capacity(st);
    const spare = cap.c - HIGH_RPS;
    say(
      `  C = ${rate(cap.c)}; per 10 s: [${cap.windows.join(', ')}]` +
        (cap.ranOut ? ' (the flood ran out in the window: C is a lower bound)' : '') +
        `; while the intake was starting them (${cap.startS.toFixed(0)} s): ${rate(cap.whileStarting)}`,
    );

    const base = { lane: 'low' as Lane, tenants: ['bulk'], tasks: FLOOD, seconds: FLOOD_S, calmSeconds: CALM_S };
    const conditions: Condition[] = [
      { ...base, key: 'off', title: '(a) admission off', admission: 'off' },
      { ...base, key: 'fixed', title: `(b) fixed ${FIXED}`, admission: FIXED },
      { ...base, key: 'adaptive', title: '(c) adaptive', admission: 'adaptive' },
      {
        ...base,
        key: 'normal',
        title: 'normal-lane flood, adaptive',
        admission: 'adaptive',
        lane: 'normal',
        seconds: EXTRA_S,
        calmSeconds: 0,
      },
      {
        ...base,
        key: 'tenants',
        title: 'two tenants, adaptive',
        admission: 'adaptive',
        tenants: ['tenant-a', 'tenant-b'],
        tasks: Math.ceil(FLOOD / 2),
        seconds: EXTRA_S,
        calmSeconds: 0,
      },
    ];
    const results: FloodResult[] = [];
    for (const [i, c] of conditions.entries()) {
      say(`phase ${i < 3 ? 3 : 4}: ${c.title} (control worker TIDEWAY_ADMISSION=${c.admission})`);
      results.push(await runCondition(st, c));
    }

    const calm = results.flatMap((r) => r.calm);
    const byKey = (k: string) => results.find((r) => r.c.key === k)!;
    const total = (r: FloodResult) => [...r.completed.values()].reduce((a, b) => a + b, 0);
    const lowRate = (r: FloodResult) => total(r) / r.c.seconds;
    const sumWindows = (r: FloodResult) => {
      const ws = [...r.windows.values()];
      return ws[0]!.map((_, i) => ws.reduce((n, w) => n + w[i]!, 0));
    };
    const acceptMs = (r: FloodResult) => Math.max(...r.accepts.map((a) => a.ms));

    say('');
    say(
      `capacity C = ${rate(cap.c)}: low-lane tasks completed per second once a ${CAP_FLOOD}-task flood (admission off) was all started ` +
        `(${rate(cap.whileStarting)} while it was being started); completions = runTask workflows closed Completed, by CloseTime in visibility`,
    );
    say(`spare capacity for the lower lanes = C − high rate = ${rate(spare)}`);
    say('');
    const tableRows: string[] = [];
    const row = (l: string) => {
      tableRows.push(l);
      say(l);
    };
    row('| condition | high-lane samples | high p50 | high p99 | flood lane done/s | share of spare | accept time | min per 10 s |');
    row('|---|---|---|---|---|---|---|---|');
    row(
      `| high lane alone (${results.filter((r) => r.calm.length).length} rounds) | ${calm.length} | ${ms(p(calm, 0.5))} | ${ms(p(calm, 0.99))} | - | - | - | - |`,
    );
    for (const r of results) {
      const lr = lowRate(r);
      row(
        `| ${r.c.title} | ${r.waits.length} | ${ms(p(r.waits, 0.5))} | ${ms(p(r.waits, 0.99))} | ${rate(lr)} | ${pct(lr / spare)} | ` +
          `${(acceptMs(r) / 1000).toFixed(1)} s for ${r.accepts.reduce((n, a) => n + a.accepted, 0)} | ${Math.min(...sumWindows(r))} |`,
      );
    }
    say('');
    for (const r of results) {
      say(`${r.c.title}:`);
      if (r.calm.length)
        say(`  high lane alone just before: ${r.calm.length} samples, p50 ${ms(p(r.calm, 0.5))}, p99 ${ms(p(r.calm, 0.99))}`);
      const rounds: string[] = [];
      const t0 = r.waits[0]?.submittedAt ?? 0;
      for (let t = t0; t < t0 + r.c.seconds * 1000; t += 30_000) {
        const part = r.waits.filter((w) => w.submittedAt >= t && w.submittedAt < t + 30_000);
        if (part.length) rounds.push(ms(p(part, 0.99)));
      }
      say(`  high p99 per 30 s of the flood: ${rounds.join(', ')}`);
      for (const a of r.accepts)
        say(`  submitMany (${a.tenant}): ${a.accepted} accepted, ${a.rejected} rejected in ${(a.ms / 1000).toFixed(1)} s`);
      say(`  ${r.c.lane}-lane completions per 10 s: [${sumWindows(r).join(', ')}]; min ${Math.min(...sumWindows(r))}`);
      if (r.windows.size > 1) {
        const all = total(r);
        for (const [t, n] of r.completed)
          say(`  ${t}: ${n} completed, ${pct(n / all)} of the lane; per 10 s [${r.windows.get(t)!.join(', ')}]`);
      }
      say(
        `  the intake had started ${r.started} by the end of the window; then ${r.terminated} open tasks terminated ` +
          `in ${(r.drainMs / 1000).toFixed(0)} s, queues empty ${(r.settleMs / 1000).toFixed(0)} s later`,
      );
      if (TRACE > 0) {
        say(`  slowest ${TRACE} high-lane samples:`);
        for (const w of [...r.waits].sort((a, b) => b.ms - a.ms).slice(0, TRACE)) {
          say(`    ${ms(w.ms)}: ${(await hops(stack, w)).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
        }
      }
    }

    const a = byKey('adaptive');
    const fixed = byKey('fixed');
    const two = byKey('tenants');
    const shares = [...two.completed.values()].map((n) => n / total(two));
    const goal = (ok: boolean, text: string) => say(`  ${ok ? '✓' : '✗'} ${text}`);
    say('');
    say('goals (adaptive admission):');
    goal(p(a.waits, 0.99) <= OBJECTIVE_MS, `high-lane p99 queue wait ${ms(p(a.waits, 0.99))} ≤ objective ${OBJECTIVE}`);
    goal(
      lowRate(a) / spare >= 0.5 && lowRate(a) >= 10 * lowRate(fixed),
      `low lane ${rate(lowRate(a))} = ${pct(lowRate(a) / spare)} of spare ${rate(spare)} (≥ 50%) and ` +
        `${(lowRate(a) / lowRate(fixed)).toFixed(1)}× the fixed ${FIXED} condition's ${rate(lowRate(fixed))} (≥ 10×)`,
    );
    goal(acceptMs(a) <= 10_000, `${a.accepts[0]!.accepted} tasks accepted in ${(acceptMs(a) / 1000).toFixed(1)} s (≤ 10 s)`);
    goal(Math.min(...sumWindows(a)) > 0, `low lane never 0 in a 10 s window (min ${Math.min(...sumWindows(a))})`);
    goal(
      shares.length === 2 && shares.every((x) => x >= 0.4 && x <= 0.6),
      `two flooding tenants each 40–60% of the low lane (${shares.map(pct).join(' / ')})`,
    );
    emitResult({
      bench: 'lanes',
      command: commandLine('bench:lanes'),
      machine,
      params: { flood: FLOOD, highRps: HIGH_RPS, sleepMs: SLEEP_MS, objective: OBJECTIVE, quick: QUICK },
      figures: [
        { name: 'capacity C (low-lane completions/s, admission off)', value: cap.c, unit: 'tasks/s' },
        ...results.map((r) => ({
          name: `${r.c.title}: high-lane queue wait p99`,
          value: p(r.waits, 0.99),
          unit: 'ms',
          baseline: p(calm, 0.99),
          baselineName: 'high lane alone, same run',
          ratio: p(r.waits, 0.99) / p(calm, 0.99),
        })),
        ...results.map((r) => ({
          name: `${r.c.title}: flood lane completions/s`,
          value: lowRate(r),
          unit: 'tasks/s',
          baseline: spare,
          baselineName: 'spare capacity C − high rate',
          ratio: lowRate(r) / spare,
        })),
      ],
      tables: [tableRows.join('\n')],
    });
  } finally {
    // A server we started dies with the stack; on a shared one, stop every flood this run began.
    if (!stack.startedServer) {
      say("cancelling this run's floods...");
      await Promise.all(st.bulkIds.map((id) => stack.client.cancelBulk(id).catch(() => undefined)));
    }
    await stack.stop();
  }
}

runBench(main);
