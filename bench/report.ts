import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineInfo, RESULT_MARKER, type BenchResult, type MachineInfo } from './lib-report';

/**
 * `npm run bench`: runs every bench one after another (the machine is small: never two at once) at
 * the scale below, within a 20-minute budget, keeps each one's output, and writes docs/benchmarks.md
 * from the `BENCH_RESULT` line each printed: every figure with the command that printed it, the
 * machine and its load, and the baseline measured in the same run. Nothing in the report is typed by
 * hand. Knobs: BENCH_ONLY=lifecycle,aimd (a subset), BENCH_REPORT_BUDGET_S (default 1200),
 * BENCH_REPORT_FROM=<dir> (rebuild the report from the logs of an earlier run, running nothing).
 * Any BENCH_* knob set in the environment wins over the defaults below.
 */
export interface BenchSpec {
  name: string;
  /** Compiled entry, relative to dist/bench. */
  file: string;
  /** The npm script a reader runs to print the same figures. */
  script: string;
  /** Scale for the 20-minute run (each bench's own defaults are larger). */
  env: Record<string, string>;
  /** Expected seconds here, for the budget. */
  expectS: number;
}

/** The benches `npm run bench` runs, in order. bench:flow joins this list when it lands. */
export const BENCHES: BenchSpec[] = [
  { name: 'scaler', file: 'scaler.js', script: 'bench:scaler', env: { BENCH_SCALER_DAYS: '10' }, expectS: 150 },
  {
    name: 'lifecycle',
    file: 'lifecycle.js',
    script: 'bench:lifecycle',
    env: { BENCH_TASKS: '300', BENCH_LIFECYCLE_LATENCY_TASKS: '60', BENCH_LIFECYCLE_WINDOW_S: '60', BENCH_LIFECYCLE_TP_ROUNDS: '1' },
    expectS: 240,
  },
  { name: 'aimd', file: 'aimd.js', script: 'bench:aimd', env: { BENCH_AIMD_TASKS: '100', BENCH_AIMD_ROUNDS: '2' }, expectS: 180 },
  { name: 'batch', file: 'batch.js', script: 'bench:batch', env: { BENCH_BATCH_SHARDS: '1000', BENCH_BATCH_ROUNDS: '2' }, expectS: 240 },
  { name: 'soak', file: 'soak.js', script: 'bench:soak', env: { BENCH_SOAK_TASKS: '2400', BENCH_SOAK_MINUTES: '2' }, expectS: 200 },
  { name: 'flow', file: 'flow.js', script: 'bench:flow', env: {}, expectS: 200 },
  { name: 'lanes', file: 'lanes.js', script: 'bench:lanes', env: { BENCH_LANES_QUICK: '1' }, expectS: 240 },
];

interface Outcome {
  spec: BenchSpec;
  status: 'ok' | 'failed' | 'timed out' | 'skipped (budget)' | 'no result in its log';
  seconds: number;
  result?: BenchResult;
  log: string;
}

const say = (l: string) => process.stdout.write(`${l}\n`);

/** Signals a bench's process group; it may be gone already (ESRCH), which is what we wanted. */
function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already exited
  }
}

/** Runs one bench with its knobs; resolves with its exit and output file, killing it at `timeoutS`. */
async function runOne(spec: BenchSpec, logDir: string, timeoutS: number): Promise<Omit<Outcome, 'spec' | 'result'>> {
  const log = join(logDir, `${spec.name}.log`);
  const out = createWriteStream(log);
  const env = { ...process.env };
  for (const [k, v] of Object.entries(spec.env)) if (env[k] === undefined) env[k] = v;
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(__dirname, spec.file)], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // The bench's own group: its dev server and workers go with it.
    killGroup(child.pid, 'SIGTERM');
    setTimeout(() => killGroup(child.pid, 'SIGKILL'), 20_000).unref();
  }, timeoutS * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  await new Promise((r) => out.end(r));
  return { status: timedOut ? 'timed out' : code === 0 ? 'ok' : 'failed', seconds: (Date.now() - t0) / 1000, log };
}

function resultOf(log: string): BenchResult | undefined {
  const line = readFileSync(log, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(RESULT_MARKER));
  return line ? (JSON.parse(line.slice(RESULT_MARKER.length)) as BenchResult) : undefined;
}

const num = (x: number | undefined, unit = '') =>
  x === undefined || Number.isNaN(x)
    ? '-'
    : `${Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)}${unit ? ` ${unit}` : ''}`;
const machineLine = (m: MachineInfo) =>
  `${m.cores} cores (${m.cpuModel}), ${m.ramGb} GB RAM (${m.freeRamGb} GB free), Node ${m.node}, load average ${m.loadAvg.join(' / ')} (1/5/15 min) at ${m.at}`;

function render(outcomes: Outcome[], started: MachineInfo, totalS: number): string {
  const md: string[] = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/report.ts) from the figures the benches printed in one run; do not edit by hand.`,
    `Each figure sits beside its baseline, measured in the same run. The machine is shared with other engineers' test runs, so`,
    'the load average is part of every figure: compare ratios and medians, not absolute numbers, across runs.',
    '',
    `- Machine at the start: ${machineLine(started)}`,
    Number.isNaN(totalS) ? '- Rebuilt from the logs of that run (`BENCH_REPORT_FROM`)' : `- Whole run: ${(totalS / 60).toFixed(1)} min`,
    '',
    '| bench | command | status | time | load at its start |',
    '|---|---|---|---|---|',
    ...outcomes.map(
      (o) =>
        `| ${o.spec.name} | \`${o.result?.command ?? `npm run ${o.spec.script}`}\` | ${o.status} | ${o.seconds ? `${o.seconds.toFixed(0)} s` : '-'} | ${o.result ? o.result.machine.loadAvg.join(' / ') : '-'} |`,
    ),
    '',
  ];
  for (const o of outcomes) {
    md.push(`## ${o.spec.name}`, '');
    if (!o.result) {
      md.push(`No figures: the bench ${o.status}${o.status === 'ok' ? ' but printed no result line' : ''} (log: ${o.log}).`, '');
      continue;
    }
    const r = o.result;
    md.push(`Printed by \`${r.command}\`. Machine: ${machineLine(r.machine)}.`, '');
    md.push(
      `Parameters: ${Object.entries(r.params)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')}.`,
      '',
    );
    for (const t of r.tables ?? []) md.push(t, '');
    md.push('| figure | value | baseline (same run) | ratio | spread |', '|---|---|---|---|---|');
    for (const f of r.figures) {
      md.push(
        `| ${f.name} | ${num(f.value, f.unit)} | ${f.baseline !== undefined ? `${num(f.baseline, f.unit)} (${f.baselineName ?? ''})` : '-'} | ${num(f.ratio)} | ${f.spread ?? f.note ?? ''} |`,
      );
    }
    md.push('');
    for (const n of r.notes ?? []) md.push(`- ${n}`);
    if (r.notes?.length) md.push('');
  }
  return md.join('\n');
}

async function main(): Promise<void> {
  const started = machineInfo();
  const t0 = Date.now();
  const budgetS = Number(process.env.BENCH_REPORT_BUDGET_S ?? 1200);
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const from = process.env.BENCH_REPORT_FROM;
  const logDir = from ?? join(tmpdir(), `tideway-bench-report-${Date.now().toString(36)}`);
  mkdirSync(logDir, { recursive: true });
  const outcomes: Outcome[] = [];
  for (const spec of BENCHES.filter((b) => !only || only.includes(b.name))) {
    if (from) {
      const log = join(from, `${spec.name}.log`);
      let result: BenchResult | undefined;
      try {
        result = resultOf(log);
      } catch {
        result = undefined;
      }
      outcomes.push({ spec, status: result ? 'ok' : 'no result in its log', seconds: 0, log, ...(result ? { result } : {}) });
      continue;
    }
    const leftS = budgetS - (Date.now() - t0) / 1000;
    if (leftS < spec.expectS * 0.75) {
      say(`${spec.name}: skipped, ${leftS.toFixed(0)} s of the budget left`);
      outcomes.push({ spec, status: 'skipped (budget)', seconds: 0, log: '' });
      continue;
    }
    say(`${spec.name}: running (log ${join(logDir, `${spec.name}.log`)})...`);
    const o = await runOne(spec, logDir, Math.min(leftS, spec.expectS * 2));
    const result = resultOf(o.log);
    outcomes.push({ spec, ...o, ...(result ? { result } : {}) });
    say(`${spec.name}: ${o.status} in ${o.seconds.toFixed(0)} s`);
  }
  const file = join(__dirname, '..', '..', 'docs', 'benchmarks.md');
  // Rebuilt from logs: the machine is the one the first bench saw, the run's length unknown.
  const machine = from ? (outcomes.find((o) => o.result)?.result?.machine ?? started) : started;
  writeFileSync(file, `${render(outcomes, machine, from ? Number.NaN : (Date.now() - t0) / 1000)}\n`);
  say(`wrote ${file} (logs in ${logDir})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
