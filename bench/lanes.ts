import { setTimeout as sleep } from 'node:timers/promises';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { readFileSync, existsSync } from 'node:fs';
import { TaskClient } from '../api/task-client';
import { admissionFor, formatAdmission } from '../config/admission';
import { catalog } from '../config/catalog';
import { mapLimit, quantile, startBenchStack, type BenchStack, runBench } from './lib-stack';

/**
 * `npm run bench:lanes`: high-lane demo.sleep tasks arrive at a steady rate, first alone (phase 1),
 * then while FLOOD demo.sleep tasks are offered to the low lane: through a TaskClient with lane
 * admission (phase 2: what `npm start` applies on its embedded server, or TIDEWAY_ADMISSION), and
 * with none (phase 3: the baseline, in the same run). Prints the high lane's queue wait (submit →
 * handler start) p50/p99 per phase and the p99 ratio to phase 1 (goal ≤ 1.5), split into the part
 * before the activity was scheduled (workflow start, control queue, envelope check) and the part in
 * the pool's own queue; and the low lane's tasks started per 10 s window (goal: never 0).
 * Knobs: BENCH_LANES_FLOOD (5000), BENCH_LANES_HIGH_RPS (5), BENCH_LANES_PHASE_S (40 s per phase),
 * BENCH_LANES_SLEEP_MS (100 ms per task). Diagnostics: BENCH_LANES_FLOOD_RATE paces the offered
 * flood (tasks/s), BENCH_LANES_FLOOD_DELAY gives each flood task a start delay (e.g. 1h), so a phase
 * measures what the starts alone cost; BENCH_LANES_TRACE=N prints the hops of each phase's N slowest
 * high-lane samples.
 */
const FLOOD = Number(process.env.BENCH_LANES_FLOOD ?? 5000);
const HIGH_RPS = Number(process.env.BENCH_LANES_HIGH_RPS ?? 5);
const PHASE_S = Number(process.env.BENCH_LANES_PHASE_S ?? 40);
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
  hops: { id: string; total: number; parts: [string, number][] }[];
}

/**
 * The hops from submit to handler start, from the workflow's own event times: the start RPC, the
 * first workflow task's wait for a control poller, its run on the control worker, the activity's
 * wait in the pool queue (to the handler start the ledger records).
 */
function hopsOf(submittedAt: number, handlerAt: number, events: temporal.api.history.v1.IHistoryEvent[]): [string, number][] {
  const t = (pred: (e: temporal.api.history.v1.IHistoryEvent) => boolean) => {
    const e = events.find(pred);
    return e?.eventTime ? tsToMs(e.eventTime) : NaN;
  };
  const started = t((e) => !!e.workflowExecutionStartedEventAttributes);
  const wftScheduled = t((e) => !!e.workflowTaskScheduledEventAttributes);
  const wftStarted = t((e) => !!e.workflowTaskStartedEventAttributes);
  const wftCompleted = t((e) => !!e.workflowTaskCompletedEventAttributes);
  const actScheduled = t((e) => !!e.activityTaskScheduledEventAttributes);
  return [
    ['start rpc', started - submittedAt],
    ['wft wait', wftStarted - wftScheduled],
    ['wft run', wftCompleted - wftStarted],
    ['to activity', actScheduled - wftCompleted],
    ['pool queue', handlerAt - actScheduled],
  ];
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
    const scheduled = h.events?.find((ev) => ev.activityTaskScheduledEventAttributes);
    if (scheduled?.eventTime) {
      const at = tsToMs(scheduled.eventTime);
      w.control.push(at - s.submittedAt);
      w.pool.push(e.at - at);
    }
    w.hops.push({ id: s.id, total: e.at - s.submittedAt, parts: hopsOf(s.submittedAt, e.at, h.events ?? []) });
  });
  return w;
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '-' : `${Math.round(ms)} ms`);

/** Submits the flood until `stop()`; returns how many were submitted (admitted) by then. */
function flood(client: TaskClient, tag: string, lowIds: string[]) {
  const t0 = Date.now();
  let stopped = false;
  let admitted = 0;
  const done = mapLimit(
    Array.from({ length: FLOOD }, (_, i) => `bench-low-${tag}-${i}-${t0.toString(36)}`),
    32,
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
  name: string;
  waits: Waits;
  windows: number[];
  startedInPhase: number;
  admittedInPhase: number;
  submitNote: string;
}

async function floodPhase(stack: BenchStack, name: string, tag: string, client: TaskClient, lowIds: string[], untilDone: boolean) {
  const f = flood(client, tag, lowIds);
  const underFlood = await highLane(stack, tag, PHASE_S);
  const phaseEnd = Date.now();
  const admittedInPhase = f.admitted();
  let submitNote: string;
  if (untilDone) {
    await f.done;
    submitNote = `all ${FLOOD} submitted after ${((Date.now() - f.startedAt) / 1000).toFixed(0)} s`;
  } else {
    await f.stop();
    submitNote = `${admittedInPhase} of ${FLOOD} admitted during the phase; the producer was waiting its turn for the rest, which the bench then dropped`;
  }
  const w = await waits(stack, underFlood);
  const low = [...ledger(stack.ledger).values()].filter((e) => e.taskId.startsWith(`bench-low-${tag}-`));
  const windows: number[] = [];
  for (let t = f.startedAt; t + 10_000 <= Math.max(phaseEnd, f.startedAt + 10_000); t += 10_000) {
    windows.push(low.filter((e) => e.at >= t && e.at < t + 10_000).length);
  }
  const startedInPhase = low.filter((e) => e.at < phaseEnd).length;
  return { name, waits: w, windows, startedInPhase, admittedInPhase, submitNote } satisfies FloodResult;
}

async function main(): Promise<void> {
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const stack = await startBenchStack('lanes', say);
  const lowIds: string[] = [];
  // What `npm start` applies on its embedded server, or TIDEWAY_ADMISSION (config/admission.ts).
  const admission = admissionFor(process.env.TIDEWAY_ADMISSION, stack.startedServer);
  const paced = new TaskClient({ client: stack.temporal, catalog, admission, admissionMaxWaitMs: Number.POSITIVE_INFINITY });
  try {
    await Promise.all([
      stack.spawn({ role: 'control' }),
      stack.spawn({ role: 'pool', group: 'demo', lane: 'high' }),
      stack.spawn({ role: 'pool', group: 'demo', lane: 'low' }),
    ]);
    say(
      `high lane: ${HIGH_RPS} task/s of demo.sleep ${SLEEP_MS} ms, ${PHASE_S} s per phase; flood: ${FLOOD} low-lane demo.sleep ${SLEEP_MS} ms` +
        (FLOOD_RATE ? `, offered at ${FLOOD_RATE}/s` : ', offered as fast as 32 concurrent submits go') +
        (FLOOD_DELAY ? `, each with a ${FLOOD_DELAY} start delay (starts only)` : ''),
    );
    say(`lane admission (TIDEWAY_ADMISSION): ${formatAdmission(admission)}`);
    // Warm-up: the first tasks pay connection and cache set-up; keep them out of the figures.
    await highLane(stack, 'warmup', 3).then((s) => waits(stack, s));

    say('phase 1: no flood...');
    const calm = await waits(stack, await highLane(stack, 'calm', PHASE_S));
    say(`phase 2: flooding the low lane with ${FLOOD} tasks, lane admission ${formatAdmission(admission)}...`);
    const withAdmission = await floodPhase(stack, 'flood, lane admission on', 'adm', paced, lowIds, formatAdmission(admission) === 'off');
    say(`phase 3 (baseline): flooding the low lane with ${FLOOD} tasks, no lane admission...`);
    const without = await floodPhase(stack, 'flood, no lane admission', 'raw', stack.client, lowIds, true);

    say('');
    say('| high lane queue wait | samples | p50 | p99 | p50 control part | p99 control part | p50 pool-queue part | p99 pool-queue part |');
    say('|---|---|---|---|---|---|---|---|');
    for (const [name, w] of [
      ['no flood', calm],
      [withAdmission.name, withAdmission.waits],
      [without.name, without.waits],
    ] as const) {
      say(
        `| ${name} | ${w.total.length} | ${fmt(quantile(w.total, 0.5))} | ${fmt(quantile(w.total, 0.99))} | ` +
          `${fmt(quantile(w.control, 0.5))} | ${fmt(quantile(w.control, 0.99))} | ${fmt(quantile(w.pool, 0.5))} | ${fmt(quantile(w.pool, 0.99))} |`,
      );
    }
    if (TRACE) {
      say('');
      for (const [name, w] of [
        ['no flood', calm],
        [withAdmission.name, withAdmission.waits],
        [without.name, without.waits],
      ] as const) {
        say(`slowest ${TRACE} high-lane samples, ${name}:`);
        for (const x of [...w.hops].sort((a, b) => b.total - a.total).slice(0, TRACE)) {
          say(`  ${fmt(x.total)}: ${x.parts.map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
        }
      }
    }
    say('');
    for (const r of [withAdmission, without]) {
      const ratio = quantile(r.waits.total, 0.99) / quantile(calm.total, 0.99);
      say(`${r.name}:`);
      say(`  p99 ratio flood / no flood: ${ratio.toFixed(2)} (goal <= 1.5: ${ratio <= 1.5 ? 'MET' : 'NOT MET'})`);
      say(
        `  low lane tasks started per 10 s window: [${r.windows.join(', ')}]; min ${Math.min(...r.windows)} ` +
          `(goal never 0: ${Math.min(...r.windows) > 0 ? 'MET' : 'NOT MET'}); ${r.startedInPhase} started during the phase; ${r.submitNote}`,
      );
    }
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
