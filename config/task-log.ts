import { z } from 'zod';
import type { TaskStatus } from './names';

/**
 * Task logs: what a handler writes with `ctx.log.info(msg, fields?)`. Each line goes to the pool's
 * structured log (pino, stdout: in production the cluster's log system, with the task ID as a
 * field) and to a per-task store (`TaskLogStore`; files under the data dir by default), which the
 * API, the CLI and the dashboard read. This module is the contract both sides share: the line's
 * shape, the store's interface, the size bounds and the redaction rules.
 */

export const TASK_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type TaskLogLevel = (typeof TASK_LOG_LEVELS)[number];

/** The defaults of task logs, in one place (settings.ts exposes each as a TIDEWAY_TASK_LOG_* variable). */
export const TASK_LOG_DEFAULTS = {
  /** Lines below this level reach the pool's log only, not the per-task store. */
  level: 'info' as TaskLogLevel,
  /** Lines one task keeps at most (all attempts together), then one `truncated` marker. */
  maxLines: 5_000,
  /** Bytes one task's lines take at most, then one `truncated` marker. */
  maxBytes: 1024 * 1024,
  /** A message longer than this many characters is cut (the rest is dropped, noted in the line). */
  maxMessageChars: 2_000,
  /** One stored line (message and fields as JSON) at most; larger fields are dropped, noted in the line. */
  maxLineBytes: 8 * 1024,
  /** Per-task files untouched this long are removed when a pool process starts. */
  retentionMs: 7 * 24 * 3600_000,
  /** Lines one read returns when the caller names no limit, and at most. */
  pageSize: 200,
  maxPageSize: 1_000,
} as const;

/** What a handler logs through (`TaskContext.log`). Fields are redacted and capped before they go anywhere. */
export interface TaskLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** One stored line: the message with the task's identity and where it ran. */
export const taskLogLineSchema = z.object({
  /** ISO time the handler logged it. */
  ts: z.string(),
  level: z.enum(TASK_LOG_LEVELS),
  msg: z.string(),
  taskId: z.string(),
  /** The workflow run: a task ID submitted again after it failed has a new one (and attempts from 1). */
  runId: z.string().optional(),
  attempt: z.number().int(),
  type: z.string(),
  tenant: z.string(),
  lane: z.string(),
  /** The pool process (worker) that ran the attempt, and its host. */
  pid: z.number().int(),
  host: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
  /** Set on the one marker line written when the task's bound is reached: later lines are in the pool log only. */
  truncated: z.literal(true).optional(),
});
export type TaskLogLine = z.infer<typeof taskLogLineSchema>;

/** One page of a task's lines, oldest first; `next` is the cursor to pass as `after` for the lines after them. */
export interface TaskLogPage {
  lines: TaskLogLine[];
  next: string;
  /** The task reached its bound: lines after the marker went to the pool log only. */
  truncated: boolean;
}

/** A page of one task's lines as the clients and `GET /v1/tasks/{id}/logs` answer it, with the task's status. */
export interface TaskLogs extends TaskLogPage {
  taskId: string;
  /** The task's status when the page was read: a follower stops once it is terminal and no line is left. */
  status?: TaskStatus | undefined;
}

/** Query of a read: the lines after `after` (a cursor from an earlier page; from the start when unset), `limit` at most. */
export const taskLogQuerySchema = z
  .object({
    after: z
      .string()
      .max(200)
      .regex(/^[A-Za-z0-9._:-]*$/, 'not a log cursor')
      .optional(),
    limit: z.coerce.number().int().min(1).max(TASK_LOG_DEFAULTS.maxPageSize).optional(),
  })
  .strict();
export type TaskLogQuery = z.input<typeof taskLogQuerySchema>;

/**
 * Where task lines are kept per task. The embedded default is `FileTaskLogStore` (one file per task
 * under the data dir, read by the API and the CLI on the same machine, or over a shared volume).
 * Another store (a log system's query API) plugs in here: `append` is called in order for each
 * attempt and must not throw for long (a failure is reported to the pool log, never to the task);
 * a store bounds its own size per task.
 */
export interface TaskLogStore {
  append(line: TaskLogLine): void;
  read(taskId: string, query: { after?: string | undefined; limit: number }): Promise<TaskLogPage>;
}

/** Field names whose values never reach a log (matched anywhere in the name, any case). */
const SECRET_NAME = /key|secret|token|passw|pwd|authori[sz]ation|cookie|credential|bearer|signature/i;
export const REDACTED = '[redacted]';
const MAX_FIELD_DEPTH = 4;
const MAX_FIELD_STRING = 1_000;
const MAX_FIELD_ENTRIES = 50;

/**
 * Replaces every known secret value (API keys, callback secrets) and every `Bearer <token>` in a
 * text. Values shorter than 6 characters are not scrubbed (they would hide ordinary words).
 */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`);
  for (const s of secrets) if (s.length >= 6 && out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * A handler's fields made safe to store: values under secret-looking names redacted, known secret
 * values scrubbed from strings, depth, entries and string lengths capped, errors as name and message.
 */
export function redactFields(fields: Record<string, unknown>, secrets: readonly string[]): Record<string, unknown> {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return capText(scrubText(v, secrets), MAX_FIELD_STRING);
    if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return v;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v !== 'object') return `[${typeof v}]`;
    if (v instanceof Date) return v.toISOString();
    if (v instanceof Error) return { name: v.name, message: capText(scrubText(v.message, secrets), MAX_FIELD_STRING) };
    if (seen.has(v)) return '[circular]';
    if (depth >= MAX_FIELD_DEPTH) return '[nested]';
    seen.add(v);
    if (Array.isArray(v)) return v.slice(0, MAX_FIELD_ENTRIES).map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v).slice(0, MAX_FIELD_ENTRIES)) out[k] = SECRET_NAME.test(k) ? REDACTED : walk(x, depth + 1);
    return out;
  };
  return walk(fields, 0) as Record<string, unknown>;
}

/** Cuts `text` to `max` characters, saying how much was dropped. */
export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

/** The secret values a process knows from its settings: they are scrubbed from every task log line. */
export function knownSecrets(s: {
  apiKey: string | undefined;
  api: { keys: readonly { key: string }[] };
  cli: { apiKey: string | undefined };
  callbacks: { secrets: Readonly<Record<string, string>> };
}): string[] {
  const all = [s.apiKey, s.cli.apiKey, ...s.api.keys.map((k) => k.key), ...Object.values(s.callbacks.secrets)];
  return [...new Set(all.filter((v): v is string => typeof v === 'string' && v.length >= 6))];
}
