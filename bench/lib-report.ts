import { cpus, freemem, loadavg, totalmem } from 'node:os';

/** The marker that starts a bench's machine-readable line; bench/report.ts collects these. */
export const RESULT_MARKER = 'BENCH_RESULT ';

/** One figure a bench printed, with the baseline it was measured against in the same run. */
export interface Figure {
  /** What was measured, e.g. "end-to-end latency p50, one at a time". */
  name: string;
  value: number;
  unit: string;
  /** The same measure of the baseline, in the same run. */
  baseline?: number;
  /** What the baseline is, e.g. "minimal workflow → one activity". */
  baselineName?: string;
  /** value / baseline (or the ratio the bench defines), when it has one. */
  ratio?: number;
  /** Spread, e.g. "min–max over 3 rounds: 40–55". */
  spread?: string;
  note?: string;
}

/** The machine a bench ran on, read when it starts (load is shared here, so it is part of every figure). */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  ramGb: number;
  freeRamGb: number;
  node: string;
  loadAvg: [number, number, number];
  at: string;
}

export function machineInfo(): MachineInfo {
  const la = loadavg();
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    ramGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeRamGb: Math.round((freemem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAvg: [la[0]!, la[1]!, la[2]!].map((x) => Math.round(x * 100) / 100) as [number, number, number],
    at: new Date().toISOString(),
  };
}

/** A bench's whole machine-readable result: printed once, as one line after its human table. */
export interface BenchResult {
  bench: string;
  /** The command that printed it, with the knobs that were set. */
  command: string;
  machine: MachineInfo;
  /** The knobs the run used (scale, rounds…). */
  params: Record<string, unknown>;
  figures: Figure[];
  /** Plain-language lines the report carries under the table (what is given up, what is not shown). */
  notes?: string[];
  /** Extra Markdown (a table) the bench printed, carried into the report as is. */
  tables?: string[];
}

/** Prints `result` as one `BENCH_RESULT {json}` line on stdout. */
export function emitResult(result: BenchResult): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/** `npm run <script>` with the BENCH_* knobs this process was given, for the report's "command" column. */
export function commandLine(script: string): string {
  const knobs = Object.entries(process.env)
    // The report's own knobs (BENCH_REPORT_*, BENCH_ONLY) do not change what a bench measures.
    .filter(([k]) => k.startsWith('BENCH_') && !k.startsWith('BENCH_REPORT_') && k !== 'BENCH_ONLY')
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  return [...knobs, `npm run ${script}`].join(' ');
}

/** Median of a list (NaN when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "min–max" of a list with `digits` decimals. */
export function range(xs: readonly number[], digits = 1): string {
  if (xs.length === 0) return '-';
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}
