import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { temporal as proto } from '@temporalio/proto';
import { taskStartOptions } from '../api/start-task';
import { resolveEnvelope } from '../config/envelope';
import { catalog } from '../examples/demo/catalog';
import { loadSettings } from '../config/settings';
import { commandLine, emitResult, machineInfo, median, range, type Figure } from './lib-report';
import { mapLimit, quantile, startBenchStack, runBench, type BenchStack } from './lib-stack';
import { MINIMAL_WORKFLOW, MINIMAL_WORKFLOW_QUEUE } from './minimal/names';

/**
 * `npm run bench:lifecycle`: demo.echo tasks through the whole path on a real dev server, beside two
 * baselines in the same run:
 * - **raw start**: `client.workflow.start` of the same `runTask` with the very options TaskClient
 *   builds (the same arguments, client resolution and search attributes, so the workflow does the
 *   same work), built before the clock starts. It measures what TaskClient's own checks cost.
 * - **minimal Temporal**: a workflow that runs one activity on another queue (bench/minimal, two
 *   worker processes like Tideway's control and pool), the least a Temporal task system does.
 * End-to-end latency (submit → result) and sustained completed throughput (closed loop, tasks
 * finished per second over a window) alternate between Tideway and the minimal baseline.
 * Knobs: BENCH_TASKS (submit-rate tasks, 500), BENCH_LIFECYCLE_LATENCY_TASKS (per path and mode, 100),
 * BENCH_LIFECYCLE_WINDOW_S (throughput window, 60), BENCH_LIFECYCLE_TP_ROUNDS (windows per path, 2),
 * BENCH_LIFECYCLE_CONCURRENCY (closed-loop tasks in flight, 32).
 */
const TOTAL = Number(process.env.BENCH_TASKS ?? 500);
const ROUNDS = 5;
const CONCURRENCY = 16;
const LATENCY_TASKS = Number(process.env.BENCH_LIFECYCLE_LATENCY_TASKS ?? 100);
const WINDOW_S = Number(process.env.BENCH_LIFECYCLE_WINDOW_S ?? 60);
const TP_ROUNDS = Number(process.env.BENCH_LIFECYCLE_TP_ROUNDS ?? 2);
const TP_CONCURRENCY = Number(process.env.BENCH_LIFECYCLE_CONCURRENCY ?? 32);
const say = (line: string) => process.stdout.write(`${line}\n`);

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Starts one minimal-baseline worker process and waits for its "ready". */
async function spawnMinimal(address: string, namespace: string, role: 'workflow' | 'activity'): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(__dirname, 'minimal-worker.js'), address, namespace, role], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => l === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`minimal ${role} worker exited ${code}`)));
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

type Path = 'tideway' | 'minimal';

/** One task through `path`, submit → result, in ms. */
function runner(stack: BenchStack, run: string): (path: Path, tag: string, i: number) => Promise<number> {
  return async (path, tag, i) => {
    const t0 = performance.now();
    const id = `${path}-${tag}-${run}-${i}`;
    if (path === 'tideway') {
      await stack.client.submit('demo.echo', { i }, { taskId: id });
      await stack.client.result(id);
    } else {
      const h = await stack.temporal.workflow.start(MINIMAL_WORKFLOW, { taskQueue: MINIMAL_WORKFLOW_QUEUE, workflowId: id, args: [{ i }] });
      await h.result();
    }
    return performance.now() - t0;
  };
}

/** Closed loop: `concurrency` tasks in flight for `windowS`; returns tasks finished per second inside the window. */
async function sustained(one: (i: number) => Promise<number>, windowS: number, concurrency: number): Promise<number> {
  const start = performance.now();
  const end = start + windowS * 1000;
  let finished = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await one(next++);
        if (performance.now() <= end) finished++;
      }
    }),
  );
  return finished / windowS;
}

const EventType = proto.api.enums.v1.EventType;
/** Event types Temporal Cloud bills as one action each (its published action list, read from the history). */
const BILLED = new Set<number>([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
  EventType.EVENT_TYPE_TIMER_STARTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
  EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
  EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
  EventType.EVENT_TYPE_MARKER_RECORDED, // a local activity
  EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
]);

async function historyOf(stack: BenchStack, workflowId: string): Promise<{ events: number; actions: number; types: string[] }> {
  const h = await stack.temporal.workflow.getHandle(workflowId).fetchHistory();
  const evs = h.events ?? [];
  const types = evs.map((e) => (EventType[e.eventType ?? 0] ?? String(e.eventType)).replace('EVENT_TYPE_', ''));
  // Activity retries are billed too: an attempt > 1 shows on ACTIVITY_TASK_STARTED.
  const retries = evs.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
  return { events: evs.length, actions: evs.filter((e) => BILLED.has(e.eventType ?? 0)).length + retries, types };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const stack = await startBenchStack('lifecycle', say);
  const settings = loadSettings();
  const minimal: ChildProcess[] = [];
  try {
    await stack.spawn({ role: 'control' });
    const pool = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    minimal.push(await spawnMinimal(stack.address, settings.namespace, 'workflow'));
    minimal.push(await spawnMinimal(stack.address, settings.namespace, 'activity'));
    const run = Date.now().toString(36);
    const one = runner(stack, run);

    // Warm up connections, caches and both workflow bundles.
    await mapLimit([...Array(20).keys()], 8, (i) => one('tideway', 'warm', i));
    await mapLimit([...Array(20).keys()], 8, (i) => one('minimal', 'warm', i));

    // 1. Submit rate: TaskClient.submit against a raw start of the same workflow with the same options.
    const perRound = Math.floor(TOTAL / 2 / ROUNDS);
    const rates = { taskClient: [] as number[], raw: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      const ids = [...Array(perRound).keys()];
      const raw = ids.map((i) => {
        const envelope = { type: 'demo.echo', input: { i } };
        return taskStartOptions(catalog, resolveEnvelope(catalog, envelope), envelope, `raw-${run}-${r}-${i}`);
      });
      // Alternate which goes first so neither always meets the busier server.
      const order = r % 2 === 0 ? (['taskClient', 'raw'] as const) : (['raw', 'taskClient'] as const);
      for (const which of order) {
        const t0 = performance.now();
        await mapLimit(ids, CONCURRENCY, async (i) => {
          if (which === 'taskClient') await stack.client.submit('demo.echo', { i }, { taskId: `taskClient-${run}-${r}-${i}` });
          else await stack.temporal.workflow.start(raw[i]!.workflowType, raw[i]!.options);
        });
        rates[which].push(perRound / ((performance.now() - t0) / 1000));
      }
      say(
        `round ${r + 1}: TaskClient.submit ${rates.taskClient.at(-1)!.toFixed(0)}/s, raw start (same options) ${rates.raw.at(-1)!.toFixed(0)}/s`,
      );
    }
    const all = [...Array(ROUNDS).keys()].flatMap((r) =>
      [...Array(perRound).keys()].flatMap((i) => [`taskClient-${run}-${r}-${i}`, `raw-${run}-${r}-${i}`]),
    );
    await mapLimit(all, 32, (id) => stack.client.result(id).catch(() => undefined));
    say(`all ${all.length} submitted tasks finished`);

    // 2. End-to-end latency, Tideway and minimal alternated in blocks of 10.
    const lat: Record<string, Record<Path, number[]>> = { '1': { tideway: [], minimal: [] }, '4': { tideway: [], minimal: [] } };
    for (const c of [1, 4]) {
      for (let b = 0; b * 10 < LATENCY_TASKS; b++) {
        const order: Path[] = b % 2 === 0 ? ['tideway', 'minimal'] : ['minimal', 'tideway'];
        for (const p of order) {
          const ms = await mapLimit([...Array(Math.min(10, LATENCY_TASKS - b * 10)).keys()], c, (i) => one(p, `lat${c}`, b * 10 + i));
          lat[String(c)]![p].push(...ms);
        }
      }
      say(
        `latency ${c} at a time: Tideway p50 ${quantile(lat[String(c)]!.tideway, 0.5).toFixed(0)} ms, minimal p50 ${quantile(lat[String(c)]!.minimal, 0.5).toFixed(0)} ms`,
      );
    }

    // 3. Sustained completed throughput, alternated windows.
    const tp: Record<Path, number[]> = { tideway: [], minimal: [] };
    for (let r = 0; r < TP_ROUNDS; r++) {
      const order: Path[] = r % 2 === 0 ? ['tideway', 'minimal'] : ['minimal', 'tideway'];
      for (const p of order) {
        const rate = await sustained((i) => one(p, `tp${r}`, i), WINDOW_S, TP_CONCURRENCY);
        tp[p].push(rate);
        say(`throughput window ${r + 1} (${WINDOW_S} s, ${TP_CONCURRENCY} in flight): ${p} ${rate.toFixed(1)} tasks finished/s`);
      }
    }

    // 4. History of one task each (the first sequential-latency task), from the server.
    const hT = await historyOf(stack, `tideway-lat1-${run}-0`);
    const hM = await historyOf(stack, `minimal-lat1-${run}-0`);
    const rss = peakRssMb(pool.pid);

    const med = (xs: number[]) => quantile(xs, 0.5);
    const ratio = med(rates.taskClient) / med(rates.raw);
    const rows: string[] = [
      '| figure | Tideway | baseline | ratio |',
      '|---|---|---|---|',
      `| submit rate, tasks/s (median of ${ROUNDS} rounds × ${perRound}, ${CONCURRENCY} at a time); baseline raw start, same options | ${med(rates.taskClient).toFixed(1)} | ${med(rates.raw).toFixed(1)} | ${ratio.toFixed(2)} |`,
    ];
    const figures: Figure[] = [
      {
        name: 'submit rate (TaskClient.submit vs raw start with the same options)',
        value: med(rates.taskClient),
        unit: 'tasks/s',
        baseline: med(rates.raw),
        baselineName: 'raw workflow.start, same workflow and options',
        ratio,
        spread: `TaskClient ${range(rates.taskClient, 0)}, raw ${range(rates.raw, 0)}`,
      },
    ];
    for (const c of ['1', '4']) {
      for (const q of [0.5, 0.99]) {
        const t = quantile(lat[c]!.tideway, q);
        const m = quantile(lat[c]!.minimal, q);
        const name = `end-to-end latency p${q * 100}, ${c} at a time (${LATENCY_TASKS} tasks each)`;
        rows.push(`| ${name}, ms; baseline minimal workflow → one activity | ${t.toFixed(0)} | ${m.toFixed(0)} | ${(t / m).toFixed(2)} |`);
        figures.push({ name, value: t, unit: 'ms', baseline: m, baselineName: 'minimal workflow → one activity', ratio: t / m });
      }
    }
    const tpT = median(tp.tideway);
    const tpM = median(tp.minimal);
    rows.push(
      `| sustained completed throughput, tasks/s (median of ${TP_ROUNDS} × ${WINDOW_S} s windows, ${TP_CONCURRENCY} in flight); baseline minimal | ${tpT.toFixed(1)} | ${tpM.toFixed(1)} | ${(tpT / tpM).toFixed(2)} |`,
      `| history events of one task; baseline minimal | ${hT.events} | ${hM.events} | ${(hT.events / hM.events).toFixed(2)} |`,
      `| Temporal actions of one task (billed event types in its history); baseline minimal | ${hT.actions} | ${hM.actions} | ${(hT.actions / hM.actions).toFixed(2)} |`,
    );
    figures.push(
      {
        name: `sustained completed throughput (${TP_ROUNDS} × ${WINDOW_S} s windows, ${TP_CONCURRENCY} in flight)`,
        value: tpT,
        unit: 'tasks/s',
        baseline: tpM,
        baselineName: 'minimal workflow → one activity',
        ratio: tpT / tpM,
        spread: `Tideway ${range(tp.tideway)}, minimal ${range(tp.minimal)}`,
      },
      {
        name: 'history events of one task',
        value: hT.events,
        unit: 'events',
        baseline: hM.events,
        baselineName: 'minimal',
        ratio: hT.events / hM.events,
      },
      {
        name: 'Temporal actions of one task',
        value: hT.actions,
        unit: 'actions',
        baseline: hM.actions,
        baselineName: 'minimal',
        ratio: hT.actions / hM.actions,
      },
      { name: 'pool worker peak RSS', value: rss, unit: 'MB' },
    );
    say('');
    for (const r of rows) say(r);
    say(`Tideway task history: ${hT.types.join(', ')}`);
    say(`minimal task history: ${hM.types.join(', ')}`);
    say(`pool worker peak RSS ${rss.toFixed(0)} MB`);
    emitResult({
      bench: 'lifecycle',
      command: commandLine('bench:lifecycle'),
      machine,
      params: {
        submitTasks: TOTAL,
        rounds: ROUNDS,
        latencyTasks: LATENCY_TASKS,
        windowS: WINDOW_S,
        tpRounds: TP_ROUNDS,
        tpConcurrency: TP_CONCURRENCY,
      },
      figures,
      tables: [rows.join('\n')],
      notes: [
        `Tideway task history (${hT.events} events): ${hT.types.join(', ')}.`,
        `Minimal task history (${hM.events} events): ${hM.types.join(', ')}.`,
        'Actions are counted from the history by the event types Temporal Cloud bills (start, activity scheduled and retried, signal, search-attribute upsert, local-activity marker, timer, child, update); the minimal baseline sets no search attributes and keeps no state, which Tideway does for every task.',
      ],
    });
  } finally {
    await Promise.all(minimal.map(stopChild));
    await stack.stop();
  }
}

runBench(main);
