import type { RegisteredTasks } from '../config/register';
import { loadSettings, type Settings } from '../config/settings';
import type { TaskEnvelope } from '../config/envelope';
import { TERMINAL_STATUSES, type Lane } from '../config/names';
import type { AnyTaskDefinition, TaskInput, TaskName, TaskOutput } from '../config/task';
import { TidewayError } from '../config/errors';
import { TaskConflictError, TaskFailedError, TaskNotFoundError, ValidationError } from './errors';
import type { ListFilter, ListResult, SubmitOptions, SubmitResult, TaskState } from './task-client';
import type { BatchBody, BatchStatus, BulkAccepted, BulkStatus, PoolView, ScheduleBody, ScheduleView, SubmitBody } from './http/schemas';

export type { BatchBody, BatchStatus, BulkAccepted, BulkStatus, PoolView, ScheduleBody, ScheduleView, SubmitBody } from './http/schemas';

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
  /** Per-request timeout in ms. @default 30000 */
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

  /** From the settings' TIDEWAY_URL and TIDEWAY_API_KEY, or undefined when TIDEWAY_URL is unset. */
  static fromSettings(cli: Settings['cli']): HttpTaskClient | undefined {
    if (!cli.url) return undefined;
    if (!cli.apiKey) throw new HttpApiError(401, 'Unauthorized', 'TIDEWAY_URL is set but TIDEWAY_API_KEY is not');
    return new HttpTaskClient({ url: cli.url, apiKey: cli.apiKey });
  }

  /** From TIDEWAY_URL and TIDEWAY_API_KEY of `env` (@default the process environment), or undefined when TIDEWAY_URL is unset. */
  static fromEnv(env?: NodeJS.ProcessEnv): HttpTaskClient | undefined {
    return HttpTaskClient.fromSettings(loadSettings(env).cli);
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

  /** `POST /v1/tasks:bulk`: up to 100,000 bodies, accepted durably; per-item errors. */
  async submitBulk(tasks: readonly unknown[], bulkId?: string): Promise<BulkAccepted> {
    return this.call<BulkAccepted>('POST', '/v1/tasks:bulk', { tasks, ...(bulkId ? { bulkId } : {}) });
  }

  /** `GET /v1/bulk/{id}`. */
  async bulkStatus(bulkId: string): Promise<BulkStatus> {
    return this.call<BulkStatus>('GET', `/v1/bulk/${encodeURIComponent(bulkId)}`);
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
  async redrive(taskId: string, opts: { lane?: Lane } = {}): Promise<void> {
    await this.action(taskId, 'redrive', opts);
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

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.opts.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (res.ok) return json as T;
    const err = (json as { error?: AnswerError } | undefined)?.error ?? {};
    const retry = res.headers.get('retry-after');
    throw errorFromAnswer(res.status, path, { ...err, message: err.message ?? text }, retry ? Number(retry) : undefined);
  }
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
