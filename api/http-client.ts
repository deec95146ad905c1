import type { RegisteredTasks } from '../config/register';
import { newBulkId } from './bulk';
import { loadSettings, type Settings } from '../config/settings';
import type { TaskEnvelope } from '../config/envelope';
import { TERMINAL_STATUSES, type Lane } from '../config/names';
import type { AnyTaskDefinition, TaskInput, TaskName, TaskOutput } from '../config/task';
import { parseRetryAfter } from '../activities/errors';
import { TidewayError } from '../config/errors';
import { TaskConflictError, TaskFailedError, TaskNotFoundError, ValidationError } from './errors';
import type { ListFilter, ListResult, RedriveResult, SubmitOptions, SubmitResult, TaskLogQuery, TaskLogs, TaskState } from './task-client';
import type {
  BatchBody,
  BatchStatus,
  BulkAccepted,
  BulkCancelled,
  BulkStatus,
  PoolView,
  ScheduleBody,
  ScheduleView,
  SubmitBody,
} from './http/schemas';
import { backoffDelayMs, retryAfterDelayMs, withRetry, type Classify, type RetryInfo } from './retry';

export type {
  BatchBody,
  BatchStatus,
  BulkAccepted,
  BulkCancelled,
  BulkStatus,
  PoolView,
  ScheduleBody,
  ScheduleView,
  SubmitBody,
} from './http/schemas';
export type { RetryInfo } from './retry';

/** Thrown by HttpTaskClient for an error answer the domain errors do not cover (401, 413, 429, 5xx). */
export class HttpApiError extends TidewayError {
  readonly type: string;
  constructor(
    readonly status: number,
    type: string,
    message: string,
    readonly details?: unknown,
    /** Seconds from `Retry-After` on a 429. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`HTTP ${status} ${type}: ${message}`);
    this.type = type;
  }
}

export interface HttpTaskClientOptions {
  /** Base URL of the API, e.g. http://localhost:8080. */
  url: string;
  /** API key (decides the tenant). */
  apiKey: string;
  /** Per-request timeout in ms (each try). @default 30000 */
  timeoutMs?: number;
  /** Timeout of one try of a bulk submit, which uploads and validates up to 100,000 tasks. @default 300000 */
  bulkTimeoutMs?: number;
  /**
   * How long to keep retrying a request the server refused with 429 (after each `Retry-After`), and
   * a bulk submit that failed with 5xx or a connection reset; then the last error is thrown.
   * @default 600000 (10 minutes)
   */
  maxRetryMs?: number;
  /** Called before each retry's wait (progress notes). */
  onRetry?: (info: RetryInfo) => void;
}

/** Bodies at least this big that get a connection reset are reported as 413: the server most likely refused the size. */
const BIG_BODY_BYTES = 1 << 20;
/** Connection resets of a repeatable request are retried at most this many times. */
const MAX_RESET_RETRIES = 2;

/** How one request may be repeated. */
interface CallOptions {
  /** Safe to repeat after a 5xx or a connection reset (a 429 is always repeated: the server did nothing). */
  repeatable?: boolean;
  headers?: Record<string, string>;
  /** A body sent as is (with its content type in `headers`) instead of JSON. */
  raw?: Buffer;
  timeoutMs?: number;
}

/**
 * Speaks Tideway's HTTP API with the same method names and types as TaskClient, so a script can
 * switch between Temporal and HTTP by changing one constructor. Errors come back as the same classes.
 */
export class HttpTaskClient<T extends readonly AnyTaskDefinition[] = RegisteredTasks> {
  private readonly base: string;
  constructor(private readonly opts: HttpTaskClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  /** From the settings' TIDEWAY_URL and TIDEWAY_API_KEY (plus `more` options), or undefined when TIDEWAY_URL is unset. */
  static fromSettings(cli: Settings['cli'], more: Omit<HttpTaskClientOptions, 'url' | 'apiKey'> = {}): HttpTaskClient | undefined {
    if (!cli.url) return undefined;
    if (!cli.apiKey) throw new HttpApiError(401, 'Unauthorized', 'TIDEWAY_URL is set but TIDEWAY_API_KEY is not');
    return new HttpTaskClient({ ...more, url: cli.url, apiKey: cli.apiKey });
  }

  /** From TIDEWAY_URL and TIDEWAY_API_KEY of `env` (@default the process environment), or undefined when TIDEWAY_URL is unset. */
  static fromEnv(env?: NodeJS.ProcessEnv, more: Omit<HttpTaskClientOptions, 'url' | 'apiKey'> = {}): HttpTaskClient | undefined {
    return HttpTaskClient.fromSettings(loadSettings(env).cli, more);
  }

  async close(): Promise<void> {
    // Nothing to release: fetch keeps no connection we own.
  }

  /** Submits a task (same dedupe semantics as TaskClient.submit; the tenant comes from the key). */
  async submit<K extends TaskName<T>>(type: K, input: TaskInput<T, K>, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const { tenant: _t, ...rest } = opts;
    return this.submitBody({ type, input, ...(rest as Omit<SubmitBody, 'type' | 'input'>) });
  }

  /** Untyped submit of an envelope; `tenant` in it is ignored (the API key decides). */
  async submitEnvelope(envelope: TaskEnvelope, taskId?: string): Promise<SubmitResult> {
    const { tenant: _t, ...rest } = envelope;
    return this.submitBody({ ...(rest as SubmitBody), ...(taskId ? { taskId } : {}) });
  }

  /** `POST /v1/tasks` with a raw body. */
  async submitBody(body: SubmitBody): Promise<SubmitResult> {
    const r = await this.call<SubmitResult>('POST', '/v1/tasks', body);
    return { taskId: r.taskId, status: r.status, duplicate: r.duplicate ?? false };
  }

  /**
   * `POST /v1/tasks:bulk` as NDJSON: up to 100,000 task bodies (`{type, input, taskId?, lane?, ...}`)
   * accepted durably in one call; each bad item gets its own error. The bulk ID (@default a random
   * UUID) goes in `Idempotency-Key`, so a retry after a 429, a 5xx or a connection reset is safe:
   * the server accepts a bulk ID once.
   */
  async submitMany(items: readonly unknown[], opts: { bulkId?: string } = {}): Promise<BulkAccepted> {
    const bulkId = opts.bulkId ?? newBulkId();
    // JSON.stringify escapes newlines inside strings, so each item is exactly one line.
    const raw = Buffer.from(items.map((t) => JSON.stringify(t) ?? 'null').join('\n') + '\n', 'utf8');
    return this.call<BulkAccepted>('POST', '/v1/tasks:bulk', undefined, {
      repeatable: true,
      raw,
      headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': bulkId },
      timeoutMs: this.opts.bulkTimeoutMs ?? 300_000,
    });
  }

  /** `GET /v1/bulk/{id}`: how far a bulk's intake has got (accepted, started, duplicate, failed, cancelled, pending). */
  async bulkStatus(bulkId: string): Promise<BulkStatus> {
    return this.call<BulkStatus>('GET', `/v1/bulk/${encodeURIComponent(bulkId)}`, undefined, { repeatable: true });
  }

  /** `POST /v1/bulk/{id}:cancel`: tasks of the bulk not started yet never start; started ones are cancelled. */
  async cancelBulk(bulkId: string): Promise<BulkCancelled> {
    return this.call<BulkCancelled>('POST', `/v1/bulk/${encodeURIComponent(bulkId)}:cancel`, undefined, { repeatable: true });
  }

  async get(taskId: string): Promise<TaskState> {
    return this.call<TaskState>('GET', `/v1/tasks/${encodeURIComponent(taskId)}`);
  }

  /**
   * Polls until the task is terminal; returns its result or throws TaskFailedError. Name the type
   * (`result(id, 'media.thumbnail')`) for a typed result, as with TaskClient.
   */
  async result<K extends TaskName<T>>(taskId: string, _type?: K, pollMs = 500): Promise<TaskOutput<T, K>> {
    return (await pollResult((id) => this.get(id), taskId, pollMs)) as TaskOutput<T, K>;
  }

  /** `GET /v1/tasks/{id}/logs`: a page of the task's log lines, oldest first; pass `next` as `after` for the lines after it. */
  async logs(taskId: string, query: TaskLogQuery = {}): Promise<TaskLogs> {
    const q = new URLSearchParams();
    if (query.after !== undefined) q.set('after', query.after);
    if (query.limit !== undefined) q.set('limit', String(query.limit));
    return this.call<TaskLogs>('GET', `/v1/tasks/${encodeURIComponent(taskId)}/logs${q.size ? `?${q}` : ''}`, undefined, {
      repeatable: true,
    });
  }

  async list(filter: ListFilter = {}, page: { pageSize?: number; pageToken?: string } = {}): Promise<ListResult> {
    const { tenant: _t, ...f } = filter;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...f, ...page })) if (v !== undefined) q.set(k, String(v));
    const r = await this.call<{ tasks: ListResult['tasks']; nextPageToken?: string }>('GET', `/v1/tasks${q.size ? `?${q}` : ''}`);
    return { tasks: r.tasks, nextPageToken: r.nextPageToken };
  }

  async cancel(taskId: string): Promise<void> {
    await this.action(taskId, 'cancel');
  }
  async pause(taskId: string): Promise<void> {
    await this.action(taskId, 'pause');
  }
  async resume(taskId: string): Promise<void> {
    await this.action(taskId, 'resume');
  }
  /** Redrives a dead-lettered task, or the failed shards of a finished batch (`shards` says how many). */
  async redrive(taskId: string, opts: { lane?: Lane } = {}): Promise<RedriveResult> {
    const r = await this.call<{ shards?: number; failed?: number }>('POST', `/v1/tasks/${encodeURIComponent(taskId)}:redrive`, opts);
    return { taskId, ...(r.shards !== undefined ? { shards: r.shards } : {}), ...(r.failed !== undefined ? { failed: r.failed } : {}) };
  }
  async discard(taskId: string): Promise<void> {
    await this.action(taskId, 'discard');
  }

  /** Starts a batch over this tenant's tasks matching a filter. */
  async startBatch(body: BatchBody): Promise<{ batchId: string; operation: string; query: string }> {
    return this.call('POST', '/v1/batches', body);
  }
  async getBatch(batchId: string): Promise<BatchStatus> {
    return this.call('GET', `/v1/batches/${encodeURIComponent(batchId)}`);
  }

  /** Schedule operations, tenant-scoped by the key. */
  readonly schedules = {
    list: async (): Promise<ScheduleView[]> => (await this.call<{ schedules: ScheduleView[] }>('GET', '/v1/schedules')).schedules,
    get: async (id: string): Promise<ScheduleView> => this.call('GET', `/v1/schedules/${encodeURIComponent(id)}`),
    create: async (body: ScheduleBody): Promise<ScheduleView> => this.call('POST', '/v1/schedules', body),
    pause: async (id: string): Promise<void> => void (await this.call('POST', `/v1/schedules/${encodeURIComponent(id)}:pause`)),
    resume: async (id: string): Promise<void> => void (await this.call('POST', `/v1/schedules/${encodeURIComponent(id)}:resume`)),
    trigger: async (id: string): Promise<void> => void (await this.call('POST', `/v1/schedules/${encodeURIComponent(id)}:trigger`)),
    delete: async (id: string): Promise<void> => void (await this.call('DELETE', `/v1/schedules/${encodeURIComponent(id)}`)),
  };

  async pools(): Promise<PoolView[]> {
    return (await this.call<{ pools: PoolView[] }>('GET', '/v1/pools')).pools;
  }

  private async action(taskId: string, action: string, body?: unknown): Promise<void> {
    await this.call('POST', `/v1/tasks/${encodeURIComponent(taskId)}:${action}`, body);
  }

  /**
   * One request, retried: always after a 429 (the server started nothing), and after a 5xx or a
   * connection reset when `repeatable`, until `maxRetryMs`. A big body that keeps getting its
   * connection reset is reported as the 413 the server most likely answered (verified-here: a body
   * over the limit can reach a client still uploading as a reset instead of a 413).
   */
  private async call<T>(method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<T> {
    const payload = o.raw ?? (body !== undefined ? Buffer.from(JSON.stringify(body), 'utf8') : undefined);
    const headers = {
      authorization: `Bearer ${this.opts.apiKey}`,
      ...(payload !== undefined && !o.raw ? { 'content-type': 'application/json' } : {}),
      ...o.headers,
    };
    let resets = 0;
    const classify: Classify = (err, attempt) => {
      const tooMany = retryOf429(err);
      if (tooMany) return tooMany;
      if (!o.repeatable) return undefined;
      if (err instanceof HttpApiError && err.status >= 500) {
        const waitMs = err.retryAfterSeconds !== undefined ? retryAfterDelayMs(err.retryAfterSeconds) : backoffDelayMs(attempt);
        return { waitMs, reason: `${err.status} ${err.type}` };
      }
      const code = resetCode(err);
      if (code && ++resets <= MAX_RESET_RETRIES) return { waitMs: backoffDelayMs(resets), reason: `connection reset (${code})` };
      return undefined;
    };
    try {
      return await withRetry(path, () => this.once<T>(method, path, headers, payload, o.timeoutMs), classify, {
        ...(this.opts.maxRetryMs !== undefined ? { maxRetryMs: this.opts.maxRetryMs } : {}),
        ...(this.opts.onRetry ? { onRetry: this.opts.onRetry } : {}),
      });
    } catch (err) {
      const code = resetCode(err);
      if (code && payload && payload.length >= BIG_BODY_BYTES) {
        throw new HttpApiError(
          413,
          'PayloadTooLarge',
          `the server reset the connection (${code}) while ${(payload.length / 2 ** 20).toFixed(1)} MiB were being sent: most likely the body is over its limit`,
          undefined,
          undefined,
        );
      }
      throw err;
    }
  }

  private async once<T>(
    method: string,
    path: string,
    headers: Record<string, string>,
    payload: Buffer | undefined,
    timeoutMs?: number,
  ): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      signal: AbortSignal.timeout(timeoutMs ?? this.opts.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      // A proxy's HTML page: on an error the status and text still say what happened.
      if (res.ok) throw new HttpApiError(res.status, 'MalformedAnswer', `not JSON: ${text.slice(0, 200)}`);
      json = undefined;
    }
    if (res.ok) return json as T;
    const err = (json as { error?: AnswerError } | undefined)?.error ?? {};
    throw errorFromAnswer(res.status, path, { ...err, message: err.message ?? text }, retryAfterSecondsOf(res.headers.get('retry-after')));
  }
}

/** The retry a 429 answer asks for (its Retry-After, reason "429 <details.reason>"); undefined for any other error. */
export function retryOf429(err: unknown): { waitMs: number; reason: string } | undefined {
  if (!(err instanceof HttpApiError) || err.status !== 429) return undefined;
  const reason = (err.details as { reason?: unknown } | undefined)?.reason;
  return { waitMs: retryAfterDelayMs(err.retryAfterSeconds), reason: `429 ${typeof reason === 'string' ? reason : err.type}` };
}

/** `Retry-After` (seconds or an HTTP date) in seconds; undefined when absent or unreadable. */
function retryAfterSecondsOf(header: string | null): number | undefined {
  const ms = parseRetryAfter(header);
  return ms === undefined ? undefined : ms / 1000;
}

/** The socket error code when `err` is fetch's failure on a connection the server reset, else undefined. */
function resetCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code && ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code) ? code : undefined;
}

/** The `error` object of an error answer (`{ error: { type, message, details? } }`). */
export interface AnswerError {
  type?: string;
  message?: string;
  details?: unknown;
}

/**
 * The error HttpTaskClient throws for an error answer to a request on `path` (e.g.
 * `/v1/tasks/<id>:pause`): the domain classes where they fit (TaskNotFound, TaskConflict,
 * ValidationError), else HttpApiError. The CLI's direct mode maps its errors through here too, so
 * both modes fail with the same error.
 */
export function errorFromAnswer(status: number, path: string, err: AnswerError, retryAfterSeconds?: number): Error {
  const type = err.type ?? 'HttpError';
  const message = err.message ?? '';
  const id = decodeURIComponent(path.split('/')[3]?.split(':')[0] ?? '');
  if (status === 404 && path.startsWith('/v1/tasks/')) return new TaskNotFoundError(id);
  if (status === 409 && type === 'TaskConflict') return new TaskConflictError(id, 'unknown', message);
  if (status === 400 && type === 'ValidationError') {
    const issues = (err.details as { issues?: { path: string; message: string }[] } | undefined)?.issues ?? [];
    return new ValidationError(issues);
  }
  return new HttpApiError(status, type, message, err.details, retryAfterSeconds);
}

/**
 * Polls `get` until the task is terminal: its result, or TaskFailedError naming the status and the
 * last error. What `HttpTaskClient.result` does, for any source of task states.
 */
export async function pollResult(get: (taskId: string) => Promise<TaskState>, taskId: string, pollMs = 500): Promise<unknown> {
  for (;;) {
    const s = await get(taskId);
    // A duplicate run returns the result of the earlier run that succeeded.
    if (s.status === 'succeeded' || s.status === 'duplicate') return s.result;
    if (TERMINAL_STATUSES.includes(s.status)) {
      throw new TaskFailedError(taskId, s.status, `task ${taskId} ${s.status}${s.lastError ? `: ${s.lastError.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
