import { setTimeout as sleep } from 'node:timers/promises';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { readFileSync, existsSync } from 'node:fs';
import { TaskClient } from '../api/task-client';
import { formatAdmissionMode, parseAdmissionMode } from '../config/admission';
import { catalog, type Tasks } from '../examples/demo/catalog';
import { mapLimit, quantile, startBenchStack, type BenchStack, runBench } from './lib-stack';

/**
 * `npm run bench:lanes`: high-lane demo.sleep tasks arrive at a steady rate, with no flood and while
 * FLOOD demo.sleep tasks are offered to the low lane through a TaskClient with lane admission (what
 * `npm start` applies on its embedded server, or TIDEWAY_ADMISSION). These two alternate in ROUNDS
 * rounds (no flood, then flood, PHASE_S each), so slow drift on a noisy machine hits both alike and
 * each p99 rests on ROUNDS x PHASE_S x HIGH_RPS samples, not a handful of outliers. Then, once, the
 * baseline: the same flood with no admission. Prints the high lane's queue wait (submit → handler
 * start) p50/p99 per condition and the p99 ratio to no flood (goal ≤ 1.5; per round too), split into
 * the part before the activity was scheduled (workflow start, control queue) and the part in the
 * pool's own queue; and the low lane's tasks started per 10 s window of flood (goal: never 0).
 * Knobs: BENCH_LANES_FLOOD (5000), BENCH_LANES_HIGH_RPS (5), BENCH_LANES_ROUNDS (3),
 * BENCH_LANES_PHASE_S (30 s per phase), BENCH_LANES_SLEEP_MS (100 ms per task). Diagnostics:
 * BENCH_LANES_FLOOD_RATE paces the offered flood (tasks/s), BENCH_LANES_FLOOD_DELAY gives each flood
 * task a start delay (e.g. 1h), so a phase measures what the starts alone cost; BENCH_LANES_TRACE=N
 * prints the hops of each condition's N slowest high-lane samples.
 */
const FLOOD = Number(process.env.BENCH_LANES_FLOOD ?? 5000);
const HIGH_RPS = Number(process.env.BENCH_LANES_HIGH_RPS ?? 5);
const PHASE_S = Number(process.env.BENCH_LANES_PHASE_S ?? 30);
const ROUNDS = Number(process.env.BENCH_LANES_ROUNDS ?? 3);
/** Pause after a flood phase, so its last admitted tasks are done before the next no-flood phase. */
const SETTLE_MS = 3000;
const SLEEP_MS = Number(process.env.BENCH_LANES_SLEEP_MS ?? 100);
const FLOOD_RATE = process.env.BENCH_LANES_FLOOD_RATE ? Number(process.env.BENCH_LANES_FLOOD_RATE) : undefined;
const FLOOD_DELAY = process.env.BENCH_LANES_FLOOD_DELAY as `${number}h` | `${number}m` | undefined;
const TRACE = Number(process.env.BENCH_LANES_TRACE ?? 0);

interface Ledger {
  taskId: string;
  attempt: number;
  at: number;
}

function ledger(file: string): Map<string, Ledger> {
  const m = new Map<string, Ledger>();
  if (!existsSync(file)) return m;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as Ledger;
    if (e.attempt === 1) m.set(e.taskId, e);
  }
  return m;
}

interface HighSample {
  id: string;
  submittedAt: number;
}

/** Submits high-lane tasks at HIGH_RPS for `seconds`, returning when they were submitted. */
async function highLane(stack: BenchStack, phase: string, seconds: number): Promise<HighSample[]> {
  const out: HighSample[] = [];
  const n = Math.round(seconds * HIGH_RPS);
  const t0 = Date.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / HIGH_RPS;
    await sleep(Math.max(0, due - Date.now()));
    const id = `bench-high-${phase}-${i}-${t0.toString(36)}`;
    const submittedAt = Date.now();
    out.push({ id, submittedAt });
    pending.push(stack.client.submit('demo.sleep', { ms: SLEEP_MS }, { taskId: id, lane: 'high', tenant: 'interactive' }));
  }
  await Promise.all(pending);
  return out;
}

interface Waits {
  total: number[];
  control: number[];
  pool: number[];
  /** Per sample: the hops of its queue wait (BENCH_LANES_TRACE prints the slowest). */
  hops: { total: number; parts: [string, number][] }[];
}

/**
 * The hops from submit to handler start, from the workflow's own event times: the start RPC, the
 * first workflow task's wait for a control poller, its run on the control worker, the activity's
 * wait in the pool queue (to the handler start the ledger records). `scheduledAt` (NaN if absent)
 * splits the wait into the control part and the pool-queue part.
 */
function hopsOf(
  submittedAt: number,
  handlerAt: number,
  events: temporal.api.history.v1.IHistoryEvent[],
): { scheduledAt: number; parts: [string, number][] } {
  const t = (pred: (e: temporal.api.history.v1.IHistoryEvent) => boolean) => {
    const e = events.find(pred);
    return e?.eventTime ? tsToMs(e.eventTime) : NaN;
  };
  const started = t((e) => !!e.workflowExecutionStartedEventAttributes);
  const wftScheduled = t((e) => !!e.workflowTaskScheduledEventAttributes);
  const wftStarted = t((e) => !!e.workflowTaskStartedEventAttributes);
  const wftCompleted = t((e) => !!e.workflowTaskCompletedEventAttributes);
  const actScheduled = t((e) => !!e.activityTaskScheduledEventAttributes);
  return {
    scheduledAt: actScheduled,
    parts: [
      ['start rpc', started - submittedAt],
      ['wft wait', wftStarted - wftScheduled],
      ['wft run', wftCompleted - wftStarted],
      ['to activity', actScheduled - wftCompleted],
      ['pool queue', handlerAt - actScheduled],
    ],
  };
}

/** Queue waits of finished high-lane samples: total from the ledger, split using the workflow history. */
async function waits(stack: BenchStack, samples: HighSample[]): Promise<Waits> {
  await Promise.all(samples.map((s) => stack.client.result(s.id)));
  const l = ledger(stack.ledger);
  const w: Waits = { total: [], control: [], pool: [], hops: [] };
  await mapLimit(samples, 8, async (s) => {
    const e = l.get(s.id);
    if (!e) return;
    w.total.push(e.at - s.submittedAt);
    const h = await stack.temporal.workflow.getHandle(s.id).fetchHistory();
    const { scheduledAt, parts } = hopsOf(s.submittedAt, e.at, h.events ?? []);
    if (!Number.isNaN(scheduledAt)) {
      w.control.push(scheduledAt - s.submittedAt);
      w.pool.push(e.at - scheduledAt);
    }
    w.hops.push({ total: e.at - s.submittedAt, parts });
  });
  return w;
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '-' : `${Math.round(ms)} ms`);

/**
 * Submits the flood, `concurrency` submits at a time, until `stop()`. A paced client needs only a
 * few: each waits its turn, and fewer waiting means fewer still admitted after `stop()`.
 */
function flood(client: TaskClient<Tasks>, tag: string, lowIds: string[], concurrency: number) {
  const t0 = Date.now();
  let stopped = false;
  let admitted = 0;
  const done = mapLimit(
    Array.from({ length: FLOOD }, (_, i) => `bench-low-${tag}-${i}-${t0.toString(36)}`),
    concurrency,
    async (id, i) => {
      if (stopped) return;
      if (FLOOD_RATE) await sleep(Math.max(0, t0 + (i * 1000) / FLOOD_RATE - Date.now()));
      lowIds.push(id);
      await client.submit(
        'demo.sleep',
        { ms: SLEEP_MS },
        { taskId: id, lane: 'low', tenant: 'bulk-import', ...(FLOOD_DELAY ? { delay: FLOOD_DELAY } : {}) },
      );
      admitted++;
    },
  );
  return {
    startedAt: t0,
    admitted: () => admitted,
    /** Stops taking new items (submits already waiting for admission still go); resolves when idle. */
    stop: async () => {
      stopped = true;
      await done;
      return Date.now();
    },
    done,
  };
}

interface FloodResult {
  waits: Waits;
  windows: number[];
  startedInPhase: number;
  admittedInPhase: number;
  /** How long submitting the whole flood took, when it ran to the end (not when stopped). */
  submitNote?: string;
}

async function floodPhase(
  stack: BenchStack,
  tag: string,
  client: TaskClient<Tasks>,
  lowIds: string[],
  opts: { untilDone: boolean; concurrency: number },
): Promise<FloodResult> {
  const f = flood(client, tag, lowIds, opts.concurrency);
  const underFlood = await highLane(stack, tag, PHASE_S);
  const phaseEnd = Date.now();
  const admittedInPhase = f.admitted();
  let submitNote: string | undefined;
  if (opts.untilDone) {
    await f.done;
    submitNote = `all ${FLOOD} submitted after ${((Date.now() - f.startedAt) / 1000).toFixed(0)} s`;
  } else {
    await f.stop();
  }
  const w = await waits(stack, underFlood);
  const low = [...ledger(stack.ledger).values()].filter((e) => e.taskId.startsWith(`bench-low-${tag}-`));
  const windows: number[] = [];
  for (let t = f.startedAt; t + 10_000 <= Math.max(phaseEnd, f.startedAt + 10_000); t += 10_000) {
    windows.push(low.filter((e) => e.at >= t && e.at < t + 10_000).length);
  }
  const startedInPhase = low.filter((e) => e.at < phaseEnd).length;
  return { waits: w, windows, startedInPhase, admittedInPhase, submitNote };
}

/** The samples of several phases as one. */
function pooled(ws: Waits[]): Waits {
  return {
    total: ws.flatMap((w) => w.total),
    control: ws.flatMap((w) => w.control),
    pool: ws.flatMap((w) => w.pool),
    hops: ws.flatMap((w) => w.hops),
  };
}

async function main(): Promise<void> {
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const stack = await startBenchStack('lanes', say);
  const lowIds: string[] = [];
  // TIDEWAY_ADMISSION (config/admission.ts), adaptive when unset, as every entry path applies it.
  const admission = parseAdmissionMode(process.env.TIDEWAY_ADMISSION);
  const paced = new TaskClient({ client: stack.temporal, catalog, admission, admissionMaxWaitMs: Number.POSITIVE_INFINITY });
  try {
    await Promise.all([
      stack.spawn({ role: 'control' }),
      stack.spawn({ role: 'pool', group: 'demo', lane: 'high' }),
      stack.spawn({ role: 'pool', group: 'demo', lane: 'low' }),
    ]);
    const admissionOn = admission.kind !== 'off';
    // Without admission the flood leaves a backlog that would spill into the next round: run once.
    const rounds = admissionOn ? ROUNDS : 1;
    say(
      `high lane: ${HIGH_RPS} task/s of demo.sleep ${SLEEP_MS} ms; flood: ${FLOOD} low-lane demo.sleep ${SLEEP_MS} ms` +
        (FLOOD_RATE ? `, offered at ${FLOOD_RATE}/s` : ', offered as fast as the producer may submit') +
        (FLOOD_DELAY ? `, each with a ${FLOOD_DELAY} start delay (starts only)` : ''),
    );
    say(`lane admission (TIDEWAY_ADMISSION): ${formatAdmissionMode(admission)}`);
    // Warm-up: the first tasks pay connection and cache set-up; keep them out of the figures.
    await highLane(stack, 'warmup', 3).then((s) => waits(stack, s));

    const calmRounds: Waits[] = [];
    const admRounds: FloodResult[] = [];
    for (let r = 1; r <= rounds; r++) {
      say(`round ${r}/${rounds}: ${PHASE_S} s no flood...`);
      calmRounds.push(await waits(stack, await highLane(stack, `calm${r}`, PHASE_S)));
      say(`round ${r}/${rounds}: ${PHASE_S} s flooding the low lane, lane admission ${formatAdmissionMode(admission)}...`);
      admRounds.push(await floodPhase(stack, `adm${r}`, paced, lowIds, { untilDone: !admissionOn, concurrency: admissionOn ? 4 : 32 }));
      await sleep(SETTLE_MS);
    }
    say(`baseline: ${PHASE_S} s flooding the low lane with ${FLOOD} tasks, no lane admission...`);
    const without = await floodPhase(stack, 'raw', stack.client, lowIds, { untilDone: true, concurrency: 32 });

    const calm = pooled(calmRounds);
    const withAdmission = pooled(admRounds.map((r) => r.waits));
    const conditions = [
      ['no flood', calm],
      [`flood, lane admission on (${rounds} phase${rounds === 1 ? '' : 's'})`, withAdmission],
      ['flood, no lane admission', without.waits],
    ] as const;
    say('');
    say('| high lane queue wait | samples | p50 | p99 | p50 control part | p99 control part | p50 pool-queue part | p99 pool-queue part |');
    say('|---|---|---|---|---|---|---|---|');
    for (const [name, w] of conditions) {
      say(
        `| ${name} | ${w.total.length} | ${fmt(quantile(w.total, 0.5))} | ${fmt(quantile(w.total, 0.99))} | ` +
          `${fmt(quantile(w.control, 0.5))} | ${fmt(quantile(w.control, 0.99))} | ${fmt(quantile(w.pool, 0.5))} | ${fmt(quantile(w.pool, 0.99))} |`,
      );
    }
    if (TRACE) {
      say('');
      for (const [name, w] of conditions) {
        say(`slowest ${TRACE} high-lane samples, ${name}:`);
        for (const x of [...w.hops].sort((a, b) => b.total - a.total).slice(0, TRACE)) {
          say(`  ${fmt(x.total)}: ${x.parts.map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
        }
      }
    }
    const report = (name: string, w: Waits, rs: FloodResult[], perRound: number[]) => {
      const ratio = quantile(w.total, 0.99) / quantile(calm.total, 0.99);
      const windows = rs.flatMap((r) => r.windows);
      say(`${name}:`);
      say(
        `  p99 ratio flood / no flood: ${ratio.toFixed(2)} (goal <= 1.5: ${ratio <= 1.5 ? 'MET' : 'NOT MET'})` +
          (perRound.length > 1 ? `; round by round: ${perRound.map((x) => x.toFixed(2)).join(', ')}` : ''),
      );
      say(
        `  low lane tasks started per 10 s window: [${windows.join(', ')}]; min ${Math.min(...windows)} ` +
          `(goal never 0: ${Math.min(...windows) > 0 ? 'MET' : 'NOT MET'}); ` +
          `${rs.reduce((n, r) => n + r.startedInPhase, 0)} started during the flood; ` +
          (rs[0]?.submitNote ??
            `admitted per phase: ${rs.map((r) => r.admittedInPhase).join(', ')} of ${FLOOD} offered; the producer was waiting its turn for the rest, which the bench then dropped`),
      );
    };
    say('');
    report(
      conditions[1][0],
      withAdmission,
      admRounds,
      admRounds.map((r, i) => quantile(r.waits.total, 0.99) / quantile(calmRounds[i]!.total, 0.99)),
    );
    report(conditions[2][0], without.waits, [without], []);
  } finally {
    // Whatever is left of the flood is not needed: a server we started dies with the stack; on a
    // shared server, terminate the leftovers rather than leave thousands of tasks behind.
    if (!stack.startedServer) {
      say('terminating leftover flood tasks...');
      await mapLimit(lowIds, 32, (id) =>
        stack.temporal.workflow
          .getHandle(id)
          .terminate('bench:lanes finished')
          .catch(() => undefined),
      );
    }
    await stack.stop();
  }
}

runBench(main);
