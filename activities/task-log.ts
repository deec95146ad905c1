import { hostname } from 'node:os';
import type { Logger } from '../config/log';
import {
  capText,
  redactFields,
  scrubText,
  TASK_LOG_DEFAULTS,
  TASK_LOG_LEVELS,
  type TaskLogLevel,
  type TaskLogLine,
  type TaskLogger,
  type TaskLogStore,
} from '../config/task-log';

/** Where a pool process sends its handlers' lines: its pino log, its per-task store, and what to scrub. */
export interface TaskLogSink {
  /** The pool's structured log (stdout): every line, at the process's log level. */
  pino?: Logger | undefined;
  /** The per-task store: lines at `storeLevel` and above. */
  store?: TaskLogStore | undefined;
  /** @default TASK_LOG_DEFAULTS.level */
  storeLevel?: TaskLogLevel;
  /** Secret values (API keys, callback secrets) never written anywhere. */
  secrets?: readonly string[];
}

/** Who is logging: one attempt of one task. */
export interface AttemptIdentity {
  taskId: string;
  runId?: string | undefined;
  attempt: number;
  type: string;
  tenant: string;
  lane: string;
}

const HOST = hostname();
const rank = (l: TaskLogLevel) => TASK_LOG_LEVELS.indexOf(l);

/**
 * The `ctx.log` of one attempt. A line is built once (message scrubbed and capped, fields redacted
 * and capped) and goes to both places; a failing store is reported once to the pool log and never
 * fails the handler: logging is not the task's work.
 */
export function attemptLogger(sink: TaskLogSink, who: AttemptIdentity): TaskLogger {
  const secrets = sink.secrets ?? [];
  const storeRank = rank(sink.storeLevel ?? TASK_LOG_DEFAULTS.level);
  // No `lane` binding: the pool's logger names its lane already, and pino would print the key twice.
  const pino = sink.pino?.child({ taskId: who.taskId, attempt: who.attempt, type: who.type, tenant: who.tenant });
  let storeFailed = false;
  const write = (level: TaskLogLevel, msg: unknown, fields?: Record<string, unknown>): void => {
    const text = capText(scrubText(String(msg), secrets), TASK_LOG_DEFAULTS.maxMessageChars);
    const safe = fields && typeof fields === 'object' ? capFields(redactFields(fields, secrets)) : undefined;
    pino?.[level]({ event: 'task:log', ...(who.runId ? { runId: who.runId } : {}), ...(safe ? { fields: safe } : {}) }, text);
    if (!sink.store || rank(level) < storeRank) return;
    const line: TaskLogLine = {
      ts: new Date().toISOString(),
      level,
      msg: text,
      taskId: who.taskId,
      ...(who.runId ? { runId: who.runId } : {}),
      attempt: who.attempt,
      type: who.type,
      tenant: who.tenant,
      lane: who.lane,
      pid: process.pid,
      host: HOST,
      ...(safe ? { fields: safe } : {}),
    };
    try {
      sink.store.append(line);
    } catch (err) {
      if (!storeFailed) sink.pino?.warn({ event: 'task-log:store-failed', taskId: who.taskId, err: String(err) }, 'task log store failed');
      storeFailed = true;
    }
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
  };
}

/** Fields whose JSON passes the line's cap are replaced by a note: the message itself is kept. */
function capFields(fields: Record<string, unknown>): Record<string, unknown> {
  const size = Buffer.byteLength(JSON.stringify(fields));
  return size <= TASK_LOG_DEFAULTS.maxLineBytes - TASK_LOG_DEFAULTS.maxMessageChars * 2
    ? fields
    : { dropped: `${size} bytes of fields; a line keeps at most ${TASK_LOG_DEFAULTS.maxLineBytes}` };
}
