import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TaskClient } from '../api/task-client';
import { LANES, type Lane } from '../config/names';
import { catalog } from './soak-project/catalog';
import { commandLine, emitResult, machineInfo, median, type Figure } from './lib-report';
import { mapLimit, quantile, runBench, startBenchStack } from './lib-stack';

const SOAK_CONFIG = join(__dirname, '..', '..', 'bench', 'soak-project', 'tideway.config.ts');

/**
 * `npm run bench:soak`: TASKS tasks (default 20,000) paced evenly over MINUTES (default 10) across
 * three lanes and two groups (bench/soak-project), with the scaler process running the pools. Prints
 * throughput, queue wait p50/p99 by lane (handler start − submit, from the ledger), the RSS of every
 * process at start, after warm-up and at the end (growth after warm-up over 10 % is flagged), and the
 * ledger check (every task finished, none ran twice, none lost).
 * Knobs: BENCH_SOAK_TASKS, BENCH_SOAK_MINUTES, BENCH_SOAK_MS (handler sleep, default 50),
 * BENCH_SOAK_WARMUP_S (default 20 % of the run).
 */
const TASKS = Number(process.env.BENCH_SOAK_TASKS ?? 20_000);
const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 10);
const HANDLER_MS = Number(process.env.BENCH_SOAK_MS ?? 50);
const WARMUP_S = Number(process.env.BENCH_SOAK_WARMUP_S ?? MINUTES * 60 * 0.2);
const say = (l: string) => process.stdout.write(`${l}\n`);

interface Proc {
  pid: number;
  label: string;
  rssMb: number;
}

/** Every live descendant of this process (server, control, scaler, pools), with its RSS. */
function descendants(root = process.pid): Proc[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: Proc[] = [];
  const walk = (pid: number) => {
    for (const [child, pp] of parent) {
      if (pp !== pid) continue;
      try {
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child}/status`, 'utf8'));
        const cmd = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean);
        out.push({ pid: child, label: labelOf(cmd), rssMb: rss ? Number(rss[1]) / 1024 : 0 });
      } catch {
        // exited meanwhile
      }
      walk(child);
    }
  };
  walk(root);
  return out.filter((p) => p.rssMb > 0);
}

function labelOf(cmd: string[]): string {
  const i = cmd.findIndex((a) => a.endsWith('main.js'));
  if (i >= 0) return cmd[i]!.includes('scaler') ? 'scaler' : `worker ${cmd.slice(i + 1).join(' ')}`;
  if (cmd.some((a) => a === 'start-dev')) return 'temporal dev server';
  return cmd.slice(0, 2).join(' ');
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const self = () => ({ pid: process.pid, label: 'bench (client)', rssMb: process.memoryUsage().rss / 2 ** 20 });
  const stack = await startBenchStack('soak', say, { config: SOAK_CONFIG });
  let scaler: ChildProcess | undefined;
  try {
    await stack.spawn({ role: 'control' }, { SOAK_LEDGER: stack.ledger });
    // The scaler as its own process, running the pools with the process actuator (pool logs in data/logs).
    mkdirSync(join(stack.dir, 'data', 'logs'), { recursive: true });
    scaler = spawn(process.execPath, [join(__dirname, '..', 'scaler', 'main.js'), '--actuator', 'process', '--interval', '5s'], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: stack.address,
        TIDEWAY_CONFIG: SOAK_CONFIG,
        TIDEWAY_DATA_DIR: join(stack.dir, 'data'),
        TIDEWAY_LOG_LEVEL: 'warn',
        SOAK_LEDGER: stack.ledger,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const client = new TaskClient({ client: stack.temporal, catalog, admission: { kind: 'off' } });
    // A soak that stops making progress (pools that cannot start) fails instead of waiting forever.
    const watchdog = setTimeout(
      () => {
        process.stderr.write(`soak: not finished ${MINUTES} min + 10 min after the start; giving up\n`);
        process.exit(1);
      },
      (MINUTES * 60 + 600) * 1000,
    );
    watchdog.unref();
    const start = descendants().concat(self());
    say(
      `soak: ${TASKS} tasks over ${MINUTES} min (${(TASKS / MINUTES / 60).toFixed(1)}/s), 2 groups × 3 lanes, handler ${HANDLER_MS} ms, scaler on (process actuator)`,
    );

    const submittedAt = new Map<string, number>();
    const laneOf = new Map<string, Lane>();
    const run = Date.now().toString(36);
    const t0 = Date.now();
    const perSecond = TASKS / (MINUTES * 60);
    let sent = 0;
    let warm: Proc[] | undefined;
    let lastReport = t0;
    while (sent < TASKS) {
      const due = Math.min(TASKS, Math.floor(((Date.now() - t0) / 1000) * perSecond) + 1);
      const batch = [...Array(due - sent).keys()].map((k) => sent + k);
      sent = due;
      await mapLimit(batch, 16, async (i) => {
        const lane = LANES[i % 3]!;
        const type = i % 2 === 0 ? 'alpha.work' : 'beta.work';
        const id = `soak-${run}-${i}`;
        submittedAt.set(id, Date.now());
        laneOf.set(id, lane);
        await client.submit(type, { n: i, ms: HANDLER_MS }, { taskId: id, lane });
      });
      if (!warm && Date.now() - t0 >= WARMUP_S * 1000) warm = descendants().concat(self());
      if (Date.now() - lastReport >= 60_000) {
        lastReport = Date.now();
        say(
          `  ${((Date.now() - t0) / 60_000).toFixed(1)} min: ${sent} submitted, ${descendants().filter((p) => p.label.startsWith('worker pool')).length} pool processes`,
        );
      }
      await sleep(200);
    }
    const submitDoneS = (Date.now() - t0) / 1000;
    const ids = [...submittedAt.keys()];
    let failed = 0;
    await mapLimit(ids, 64, (id) => client.result(id).then(undefined, () => void failed++));
    const doneS = (Date.now() - t0) / 1000;
    const end = descendants().concat(self());
    warm ??= start;

    // The ledger, kept by the handlers outside Temporal.
    const runs = existsSync(stack.ledger)
      ? readFileSync(stack.ledger, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { taskId: string; startedAt: number })
      : [];
    const byTask = new Map<string, number>();
    const firstStart = new Map<string, number>();
    for (const r of runs) {
      if (!submittedAt.has(r.taskId)) continue;
      byTask.set(r.taskId, (byTask.get(r.taskId) ?? 0) + 1);
      firstStart.set(r.taskId, Math.min(firstStart.get(r.taskId) ?? Infinity, r.startedAt));
    }
    const missing = ids.filter((id) => !byTask.has(id)).length;
    const twice = [...byTask.values()].filter((n) => n > 1).length;

    const rows = ['| lane | tasks | queue wait p50 ms | queue wait p99 ms |', '|---|---|---|---|'];
    const figures: Figure[] = [];
    for (const lane of LANES) {
      const w = ids.filter((id) => laneOf.get(id) === lane && firstStart.has(id)).map((id) => firstStart.get(id)! - submittedAt.get(id)!);
      rows.push(`| ${lane} | ${w.length} | ${quantile(w, 0.5).toFixed(0)} | ${quantile(w, 0.99).toFixed(0)} |`);
      figures.push(
        { name: `queue wait p50, ${lane} lane`, value: quantile(w, 0.5), unit: 'ms' },
        { name: `queue wait p99, ${lane} lane`, value: quantile(w, 0.99), unit: 'ms' },
      );
    }
    const rssRows = ['| process | pid | RSS start MB | after warm-up MB | end MB | growth after warm-up |', '|---|---|---|---|---|---|'];
    let worstGrowth = 0;
    const pids = [...new Set([...start, ...warm, ...end].map((p) => p.pid))];
    for (const pid of pids) {
      const s = start.find((p) => p.pid === pid);
      const w = warm.find((p) => p.pid === pid);
      const e = end.find((p) => p.pid === pid);
      const growth = w && e ? e.rssMb / w.rssMb - 1 : undefined;
      if (growth !== undefined) worstGrowth = Math.max(worstGrowth, growth);
      rssRows.push(
        `| ${(s ?? w ?? e)!.label} | ${pid} | ${s ? s.rssMb.toFixed(0) : '—'} | ${w ? w.rssMb.toFixed(0) : '—'} | ${e ? e.rssMb.toFixed(0) : '— (stopped)'} | ${growth === undefined ? '—' : `${(growth * 100).toFixed(1)}%${growth > 0.1 ? ' OVER 10%' : ''}`} |`,
      );
    }
    const throughput = TASKS / doneS;
    say('');
    say(
      `throughput: ${TASKS} tasks finished in ${doneS.toFixed(0)} s (submitting took ${submitDoneS.toFixed(0)} s): ${throughput.toFixed(1)} tasks/s; offered ${perSecond.toFixed(1)}/s`,
    );
    for (const r of rows) say(r);
    for (const r of rssRows) say(r);
    const ledgerOk = missing === 0 && twice === 0 && failed === 0;
    say(
      `ledger: ${ids.length} accepted, ${ids.length - failed} succeeded, ${failed} failed, ${missing} never ran, ${twice} ran more than once: ${ledgerOk ? 'OK' : 'NOT OK'}`,
    );
    say(`RSS growth after warm-up, worst process: ${(worstGrowth * 100).toFixed(1)}% (${worstGrowth <= 0.1 ? 'within' : 'OVER'} 10%)`);
    figures.push(
      {
        name: 'completed throughput over the run',
        value: throughput,
        unit: 'tasks/s',
        baseline: perSecond,
        baselineName: 'offered rate',
        ratio: throughput / perSecond,
      },
      { name: 'worst RSS growth after warm-up', value: worstGrowth * 100, unit: '%' },
      {
        name: 'tasks never run / ran twice / failed',
        value: missing + twice + failed,
        unit: 'tasks',
        note: `${missing} / ${twice} / ${failed}`,
      },
      { name: 'median end RSS of the processes', value: median(end.map((p) => p.rssMb)), unit: 'MB' },
    );
    emitResult({
      bench: 'soak',
      command: commandLine('bench:soak'),
      machine,
      params: { tasks: TASKS, minutes: MINUTES, handlerMs: HANDLER_MS, warmupS: WARMUP_S },
      figures,
      tables: [rows.join('\n'), rssRows.join('\n')],
      notes: [
        `Ledger: ${ids.length} accepted, ${failed} failed, ${missing} never ran, ${twice} ran more than once (${ledgerOk ? 'OK' : 'NOT OK'}).`,
        'Queue wait is handler start minus submit, read from the ledger the handlers keep outside Temporal. The soak has no baseline of its own: it shows stability (no leak, nothing lost), not speed.',
      ],
    });
  } finally {
    if (scaler && scaler.exitCode === null) {
      const exited = new Promise((r) => scaler!.once('exit', r));
      scaler.kill('SIGTERM');
      await Promise.race([exited, sleep(40_000)]);
      if (scaler.exitCode === null) scaler.kill('SIGKILL');
    }
    await stack.stop();
  }
}

runBench(main);
