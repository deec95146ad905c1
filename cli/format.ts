/** Renders rows as an aligned text table for people; scripts use --json instead. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '(none)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === undefined || v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A count for people: 12,345. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * `[############..................]  40% 4,000/10,000`: `done` of `total` as a bar `width` cells
 * wide. Out-of-range counts are clamped; nothing to do (total 0) is a full bar.
 */
export function progressBar(done: number, total: number, width = 30): string {
  const frac = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const filled = Math.floor(frac * width);
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct} ${count(Math.max(0, Math.min(done, total)))}/${count(Math.max(0, total))}`;
}

/** A batch task's progress as `tideway get` shows it (config/task-state.ts `batch`). */
export interface BatchCounts {
  total: number;
  splitDone: boolean;
  done: number;
  failed: number;
  running: number;
  redrive?: { round: number; shards: number; done: number; failed: number } | undefined;
}

/**
 * `[####......]  40% 40/100  done 38  failed 2  running 8  (splitting)`: finished shards of all so
 * far; a redriven batch adds `redrive 1: 2 of 2 shards done, 0 failed again`.
 */
export function batchProgressLine(b: BatchCounts, width = 30): string {
  const parts = `done ${count(b.done)}  failed ${count(b.failed)}  running ${count(b.running)}`;
  const r = b.redrive;
  const redrive = r ? `  redrive ${r.round}: ${count(r.done)} of ${count(r.shards)} shards done, ${count(r.failed)} failed again` : '';
  return `${progressBar(b.done + b.failed, b.total, width)}  ${parts}${b.splitDone ? '' : '  (still splitting: total grows)'}${redrive}`;
}

/** The counts of a bulk's intake (what `GET /v1/bulk/{id}` answers) that its progress line shows. */
export interface BulkCounts {
  state: string;
  accepted: number;
  started: number;
  duplicate: number;
  failed: number;
  cancelled: number;
  pending: number;
}

/** Tasks of a bulk the intake is done with: started, duplicate, failed or cancelled. */
export function bulkDone(s: BulkCounts): number {
  return s.started + s.duplicate + s.failed + s.cancelled;
}

/** `[####......]  40% 400/1,000  started 390  duplicate 5  failed 5  cancelled 0  pending 600  (running)` */
export function bulkProgressLine(s: BulkCounts, width = 30): string {
  const parts = (['started', 'duplicate', 'failed', 'cancelled', 'pending'] as const).map((k) => `${k} ${count(s[k])}`);
  return `${progressBar(bulkDone(s), s.accepted, width)}  ${parts.join('  ')}  (${s.state})`;
}

export interface ProgressPrinterOptions {
  write: (text: string) => void;
  /** Redraw one line in place (a terminal), or print a line per update at most every `everyMs`. */
  tty: boolean;
  /** @default 5000 */
  everyMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Shows progress lines: on a terminal one line redrawn in place; elsewhere (a log, a pipe) a line
 * at most every few seconds, so a long wait leaves a readable trail instead of thousands of lines.
 */
export class ProgressPrinter {
  private last = -Infinity;
  private drawn = false;
  private readonly everyMs: number;
  private readonly now: () => number;
  constructor(private readonly opts: ProgressPrinterOptions) {
    this.everyMs = opts.everyMs ?? 5000;
    this.now = opts.now ?? Date.now;
  }

  /** Shows `line`; `final` always prints and ends the line. */
  update(line: string, final = false): void {
    if (this.opts.tty) {
      this.opts.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
      this.drawn = !final;
      return;
    }
    const t = this.now();
    if (!final && t - this.last < this.everyMs) return;
    this.last = t;
    this.opts.write(`${line}\n`);
  }

  /** Ends a line left open on a terminal (before other output). */
  end(): void {
    if (this.drawn) this.opts.write('\n');
    this.drawn = false;
  }
}
