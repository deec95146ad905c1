import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from './errors';
import { TASK_LOG_DEFAULTS, taskLogLineSchema, type TaskLogLine, type TaskLogPage, type TaskLogStore } from './task-log';

export interface FileTaskLogStoreOptions {
  /** The folder of the per-task files (TIDEWAY_TASK_LOG_DIR; default `<data dir>/task-logs`). */
  dir: string;
  /** @default TASK_LOG_DEFAULTS.maxLines */
  maxLines?: number;
  /** @default TASK_LOG_DEFAULTS.maxBytes */
  maxBytes?: number;
}

/** Room kept under `maxBytes` for the one marker line, so the file never passes its bound. */
const MARKER_RESERVE = 1024;

/** What this process knows of one task's file: it only grows, so a size seen once is a lower bound. */
interface FileState {
  size: number;
  lines: number;
  truncated: boolean;
}

/**
 * The embedded task log store: one JSON-lines file per task (`<dir>/<readable id>.<hash>.jsonl`),
 * appended by every pool process that runs an attempt (O_APPEND: whole lines from several
 * processes never interleave) and read by the API and the CLI on the same machine. The cursor is
 * the byte offset after the last line returned. A task past its bound gets one marker line; a
 * `.truncated` file beside it, created exclusively, decides which process writes it.
 */
export class FileTaskLogStore implements TaskLogStore {
  readonly dir: string;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly state = new Map<string, FileState>();

  constructor(opts: FileTaskLogStoreOptions) {
    this.dir = opts.dir;
    this.maxLines = opts.maxLines ?? TASK_LOG_DEFAULTS.maxLines;
    this.maxBytes = opts.maxBytes ?? TASK_LOG_DEFAULTS.maxBytes;
  }

  /** The file of one task (task IDs are safe names but shard refs hold `/`, hence the hash). */
  fileOf(taskId: string): string {
    const readable = taskId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
    const hash = createHash('sha256').update(taskId).digest('hex').slice(0, 12);
    return join(this.dir, `${readable}.${hash}.jsonl`);
  }

  append(line: TaskLogLine): void {
    const file = this.fileOf(line.taskId);
    const text = `${JSON.stringify(line)}\n`;
    const bytes = Buffer.byteLength(text);
    const st = this.stateOf(file);
    if (st.truncated) return;
    if (st.lines + 1 >= this.maxLines || st.size + bytes + MARKER_RESERVE > this.maxBytes) {
      st.truncated = true;
      this.writeMarker(file, line);
      return;
    }
    appendFileSync(file, text);
    st.size += bytes;
    st.lines += 1;
  }

  async read(taskId: string, query: { after?: string | undefined; limit: number }): Promise<TaskLogPage> {
    const file = this.fileOf(taskId);
    const after = query.after ?? '';
    if (after !== '' && !/^\d{1,15}$/.test(after)) throw new ValidationError([{ path: 'after', message: 'not a log cursor' }]);
    const from = after === '' ? 0 : Number(after);
    const truncated = existsSync(`${file}.truncated`);
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], next: String(from), truncated };
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      if (from >= size) return { lines: [], next: String(from), truncated };
      const buf = Buffer.alloc(size - from);
      await fh.read(buf, 0, buf.length, from);
      const lines: TaskLogLine[] = [];
      let pos = 0;
      // Only whole lines: one still being written is read next time.
      while (lines.length < query.limit) {
        const nl = buf.indexOf(0x0a, pos);
        if (nl < 0) break;
        const parsed = parseLine(buf.subarray(pos, nl).toString('utf8'));
        pos = nl + 1;
        if (parsed) lines.push(parsed);
      }
      return { lines, next: String(from + pos), truncated };
    } finally {
      await fh.close();
    }
  }

  /** Removes the files of tasks nobody logged to for `maxAgeMs` (a pool process calls it at start). */
  prune(maxAgeMs: number, now = Date.now()): number {
    let removed = 0;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const name of names) {
      if (!name.endsWith('.jsonl') && !name.endsWith('.jsonl.truncated')) continue;
      const path = join(this.dir, name);
      try {
        if (now - statSync(path).mtimeMs > maxAgeMs) {
          unlinkSync(path);
          removed++;
        }
      } catch {
        // Another process pruned it first.
      }
    }
    return removed;
  }

  /**
   * This process's view of a file; refreshed from the file on each attempt's first line and
   * whenever another process wrote since (its size grew), so the bound holds across processes.
   */
  private stateOf(file: string): FileState {
    let st = this.state.get(file);
    if (st?.truncated) return st;
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      mkdirSync(this.dir, { recursive: true });
    }
    if (!st || size !== st.size) {
      st = { size, lines: size === 0 ? 0 : countLines(file), truncated: existsSync(`${file}.truncated`) };
      this.state.set(file, st);
      // A long-lived pool sees many tasks: forget the oldest (they are re-read if they log again).
      if (this.state.size > 1_000) this.state.delete(this.state.keys().next().value!);
    }
    return st;
  }

  private writeMarker(file: string, line: TaskLogLine): void {
    try {
      closeSync(openSync(`${file}.truncated`, 'wx'));
    } catch {
      return; // another process wrote the marker
    }
    const { fields: _f, ...rest } = line;
    const marker: TaskLogLine = {
      ...rest,
      level: 'warn',
      msg: `task log truncated: ${this.maxLines} lines or ${this.maxBytes} bytes per task; later lines are in the pool log only`,
      truncated: true,
    };
    appendFileSync(file, `${JSON.stringify(marker)}\n`);
  }
}

function countLines(file: string): number {
  try {
    // Bounded by maxBytes (plus a marker), so reading it whole is cheap.
    const buf = readFileSync(file);
    let n = 0;
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}

function parseLine(text: string): TaskLogLine | undefined {
  try {
    const r = taskLogLineSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined; // a damaged line is skipped, never fatal to a read
  }
}
