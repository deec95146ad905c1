import { setTimeout as sleep } from 'node:timers/promises';
import { tsToMs } from '@temporalio/common/lib/time';
import { readFileSync, existsSync } from 'node:fs';
import { mapLimit, quantile, startBenchStack, type BenchStack, runBench } from './lib-stack';

/**
 * `npm run bench:lanes`: high-lane demo.sleep tasks arrive at a steady rate, first alone, then while
 * FLOOD demo.sleep tasks flood the low lane. Prints the high lane's queue wait (submit → handler
 * start) p50/p99 in both phases and their ratio (goal ≤ 1.5), split into the part spent before the
 * activity was scheduled (control queue: workflow start, envelope check) and the part in the
 * pool's own queue; and the low lane's completed tasks per 10 s window during the flood (goal: never 0).
 * Knobs: BENCH_LANES_FLOOD (5000), BENCH_LANES_HIGH_RPS (5), BENCH_LANES_PHASE_S (40 s per phase),
 * BENCH_LANES_SLEEP_MS (100 ms per task). Diagnostics: BENCH_LANES_FLOOD_RATE paces the flood's
 * submits (tasks/s; default as fast as 32 concurrent submits go), BENCH_LANES_FLOOD_DELAY submits
 * it with a start delay (e.g. 1h) so the phase measures what the starts alone cost. Tasks start as TaskClient starts them: with the lane's
 * Temporal priority key (config/names.ts LANE_PRIORITY_KEY), which orders the shared control queue.
 */
const FLOOD = Number(process.env.BENCH_LANES_FLOOD ?? 5000);
const HIGH_RPS = Number(process.env.BENCH_LANES_HIGH_RPS ?? 5);
const PHASE_S = Number(process.env.BENCH_LANES_PHASE_S ?? 40);
const SLEEP_MS = Number(process.env.BENCH_LANES_SLEEP_MS ?? 100);
const FLOOD_RATE = process.env.BENCH_LANES_FLOOD_RATE ? Number(process.env.BENCH_LANES_FLOOD_RATE) : undefined;
const FLOOD_DELAY = process.env.BENCH_LANES_FLOOD_DELAY as `${number}h` | `${number}m` | undefined;

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
}

/** Queue waits of finished high-lane samples: total from the ledger, split using the workflow history. */
async function waits(stack: BenchStack, samples: HighSample[]): Promise<Waits> {
  await Promise.all(samples.map((s) => stack.client.result(s.id)));
  const l = ledger(stack.ledger);
  const w: Waits = { total: [], control: [], pool: [] };
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
  });
  return w;
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '-' : `${Math.round(ms)} ms`);

async function main(): Promise<void> {
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const stack = await startBenchStack('lanes', say);
  const lowIds: string[] = [];
  try {
    await Promise.all([
      stack.spawn({ role: 'control' }),
      stack.spawn({ role: 'pool', group: 'demo', lane: 'high' }),
      stack.spawn({ role: 'pool', group: 'demo', lane: 'low' }),
    ]);
    say(
      `high lane: ${HIGH_RPS} task/s of demo.sleep ${SLEEP_MS} ms, ${PHASE_S} s per phase; flood: ${FLOOD} low-lane demo.sleep ${SLEEP_MS} ms` +
        (FLOOD_RATE ? `, submitted at ${FLOOD_RATE}/s` : ', submitted as fast as 32 concurrent submits go') +
        (FLOOD_DELAY ? `, each with a ${FLOOD_DELAY} start delay (starts only)` : ''),
    );
    // Warm-up: the first tasks pay connection and cache set-up; keep them out of the figures.
    await highLane(stack, 'warmup', 3).then((s) => waits(stack, s));

    say('phase 1: no flood...');
    const calm = await waits(stack, await highLane(stack, 'calm', PHASE_S));

    say(`phase 2: flooding the low lane with ${FLOOD} tasks...`);
    const floodStart = Date.now();
    const flooding = mapLimit(
      Array.from({ length: FLOOD }, (_, i) => `bench-low-${i}-${floodStart.toString(36)}`),
      32,
      async (id, i) => {
        if (FLOOD_RATE) await sleep(Math.max(0, floodStart + (i * 1000) / FLOOD_RATE - Date.now()));
        lowIds.push(id);
        await stack.client.submit(
          'demo.sleep',
          { ms: SLEEP_MS },
          { taskId: id, lane: 'low', tenant: 'bulk-import', ...(FLOOD_DELAY ? { delay: FLOOD_DELAY } : {}) },
        );
      },
    );
    const underFlood = await highLane(stack, 'flood', PHASE_S);
    const floodEnd = Date.now();
    await flooding;
    const submittedAllAt = Date.now();
    const flood = await waits(stack, underFlood);

    const low = [...ledger(stack.ledger).values()].filter((e) => e.taskId.startsWith('bench-low-'));
    const windows: number[] = [];
    for (let t = floodStart; t + 10_000 <= Math.max(floodEnd, floodStart + 10_000); t += 10_000) {
      windows.push(low.filter((e) => e.at >= t && e.at < t + 10_000).length);
    }
    const p99Ratio = quantile(flood.total, 0.99) / quantile(calm.total, 0.99);

    say('');
    say('| high lane queue wait | samples | p50 | p99 | p50 control part | p99 control part | p50 pool-queue part | p99 pool-queue part |');
    say('|---|---|---|---|---|---|---|---|');
    for (const [name, w] of [
      ['no flood', calm],
      ['low-lane flood', flood],
    ] as const) {
      say(
        `| ${name} | ${w.total.length} | ${fmt(quantile(w.total, 0.5))} | ${fmt(quantile(w.total, 0.99))} | ` +
          `${fmt(quantile(w.control, 0.5))} | ${fmt(quantile(w.control, 0.99))} | ${fmt(quantile(w.pool, 0.5))} | ${fmt(quantile(w.pool, 0.99))} |`,
      );
    }
    say('');
    say(`p99 ratio flood / no flood: ${p99Ratio.toFixed(2)} (goal <= 1.5)`);
    say(
      `low lane during the flood (${((floodEnd - floodStart) / 1000).toFixed(0)} s): tasks started per 10 s window: ` +
        `[${windows.join(', ')}]; min ${Math.min(...windows)} (goal: never 0); ${low.filter((e) => e.at < floodEnd).length} of ${FLOOD} started by the end of phase 2; ` +
        `all ${FLOOD} submitted after ${((submittedAllAt - floodStart) / 1000).toFixed(0)} s`,
    );
  } finally {
    // Whatever is left of the flood is not needed: a server we started dies with the stack; on a
    // shared server, terminate the leftovers rather than leave thousands of tasks behind.
    if (process.env.TEMPORAL_ADDRESS) {
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
