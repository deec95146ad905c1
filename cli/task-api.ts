import type { z } from 'zod';
import {
  errorFromAnswer,
  HttpTaskClient,
  pollResult,
  retryOf429,
  type BatchBody,
  type BatchStatus,
  type BulkAccepted,
  type BulkCancelled,
  type BulkStatus,
  type PoolView,
  type RetryInfo,
  type ScheduleBody,
  type ScheduleView,
  type SubmitBody,
} from '../api/http-client';
import { withRetry, type RetryOptions } from '../api/retry';
import { Backpressure, QueueStatsReader } from '../api/http/backpressure';
import { describeBatch, startBatch } from '../api/http/batches';
import { BadRequestError, toErrorResponse } from '../api/http/errors';
import { describePools } from '../api/http/pools';
import { scalerStateFileProvider } from '../api/http/scaler-pools';
import { createSchedule, describeSchedule, listSchedules, scheduleAction } from '../api/http/schedules';
import {
  batchBodySchema,
  batchIdParam,
  bulkBodySchema,
  bulkIdSchema,
  issuesOf,
  listQuerySchema,
  redriveBodySchema,
  scheduleBodySchema,
  scheduleIdParam,
  submitBodySchema,
  taskLogsQuerySchema,
  type TaskAction,
} from '../api/http/schemas';
import { TenantTasks } from '../api/http/tasks';
import {
  TaskClient,
  type AnyTaskClient,
  type ListFilter,
  type ListResult,
  type RedriveResult,
  type SubmitResult,
  type TaskLogQuery,
  type TaskLogs,
  type TaskState,
} from '../api/task-client';
import type { Catalog } from '../config/catalog-schema';
import type { Project } from '../config/load';
import { DEFAULT_TENANT, type Lane } from '../config/names';
import { CATALOG_SCHEDULE_PREFIX } from '../config/schedule';
import { defaultStateFile } from '../scaler/state';
import { cliProject } from './project';

/**
 * The one task API every task verb of the CLI uses, with two implementations: HttpTaskClient over
 * the HTTP API (when TIDEWAY_URL is set; the API key decides the tenant), and DirectTaskApi, which
 * runs the HTTP layer's own code in-process over Temporal for one tenant (`--tenant`, default
 * "default"). DirectTaskApi validates with the routes' schemas and fails with the errors
 * HttpTaskClient would throw for the same answer, so a verb behaves the same in both modes.
 */
export interface TaskApi {
  /** `POST /v1/tasks`: submits one task (the tenant is never in the body). */
  submitBody(body: SubmitBody): Promise<SubmitResult>;
  /** `POST /v1/tasks:bulk`: up to 100,000 bodies accepted durably in one call; each bad item gets its own error. */
  submitMany(items: readonly unknown[], opts?: { bulkId?: string }): Promise<BulkAccepted>;
  /** `GET /v1/bulk/{id}`: how far the bulk's intake has got. */
  bulkStatus(bulkId: string): Promise<BulkStatus>;
  /** `POST /v1/bulk/{id}:cancel`: what is not started yet never starts; started tasks are cancelled. */
  cancelBulk(bulkId: string): Promise<BulkCancelled>;
  get(taskId: string): Promise<TaskState>;
  /** `GET /v1/tasks/{id}/logs`: a page of the task's log lines, oldest first, from cursor `after`. */
  logs(taskId: string, query?: TaskLogQuery): Promise<TaskLogs>;
  /** Waits until the task is terminal: its result, or TaskFailedError. */
  result(taskId: string): Promise<unknown>;
  /** One page of the tenant's tasks, newest first (a `tenant` in the filter is ignored). */
  list(filter: ListFilter, page?: { pageSize?: number; pageToken?: string }): Promise<ListResult>;
  cancel(taskId: string): Promise<void>;
  pause(taskId: string): Promise<void>;
  resume(taskId: string): Promise<void>;
  /** A batch: runs its failed shards again (the answer says how many). */
  redrive(taskId: string, opts?: { lane?: Lane }): Promise<RedriveResult>;
  discard(taskId: string): Promise<void>;
  startBatch(body: BatchBody): Promise<{ batchId: string; operation: string; query: string }>;
  getBatch(batchId: string): Promise<BatchStatus>;
  readonly schedules: {
    list(): Promise<ScheduleView[]>;
    get(id: string): Promise<ScheduleView>;
    create(body: ScheduleBody): Promise<ScheduleView>;
    pause(id: string): Promise<void>;
    resume(id: string): Promise<void>;
    trigger(id: string): Promise<void>;
    delete(id: string): Promise<void>;
  };
  pools(): Promise<PoolView[]>;
  close(): Promise<void>;
}

export interface DirectTaskApiOptions {
  /** The tenant every call acts for. @default "default" */
  tenant?: string;
  /** Scaler state file for the pools' replicas and forecast. @default <data dir>/scaler-state.json */
  scalerStateFile?: string;
  /** Submits refused with 429 (a lane's admission budget) are retried as HttpTaskClient retries them. */
  retry?: RetryOptions;
}

/** TaskApi in-process over Temporal: the HTTP routes' validation and tenant rules, without HTTP. */
export class DirectTaskApi implements TaskApi {
  readonly tenant: string;
  private readonly catalog: Catalog;
  private readonly tasks: TenantTasks;

  constructor(
    private readonly client: AnyTaskClient,
    private readonly project: Pick<Project, 'env' | 'settings'>,
    private readonly opts: DirectTaskApiOptions = {},
  ) {
    this.tenant = opts.tenant ?? DEFAULT_TENANT;
    this.catalog = client.catalog as unknown as Catalog;
    this.tasks = new TenantTasks(client, this.catalog, undefined);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  submitBody(body: SubmitBody): Promise<SubmitResult> {
    return this.retrying429('/v1/tasks', () =>
      answer('/v1/tasks', async () => this.tasks.submit(this.tenant, parse(submitBodySchema, body))),
    );
  }

  /** Retries a call refused with 429 after its Retry-After, as HttpTaskClient does over HTTP. */
  private retrying429<R>(path: string, fn: () => Promise<R>): Promise<R> {
    return withRetry(path, fn, retryOf429, this.opts.retry);
  }

  submitMany(items: readonly unknown[], opts: { bulkId?: string } = {}): Promise<BulkAccepted> {
    return this.retrying429('/v1/tasks:bulk', () =>
      answer('/v1/tasks:bulk', async () => {
        const body = parse(bulkBodySchema, { tasks: [...items], ...given({ bulkId: opts.bulkId }) });
        return this.tasks.submitBulk(this.tenant, body.tasks, body.bulkId);
      }),
    );
  }

  bulkStatus(bulkId: string): Promise<BulkStatus> {
    return answer(bulkPath(bulkId), async () => this.tasks.bulkStatus(this.tenant, parse(bulkIdSchema, bulkId, 'id')));
  }

  cancelBulk(bulkId: string): Promise<BulkCancelled> {
    return answer(`${bulkPath(bulkId)}:cancel`, async () => this.tasks.cancelBulk(this.tenant, parse(bulkIdSchema, bulkId, 'id')));
  }

  get(taskId: string): Promise<TaskState> {
    return answer(taskPath(taskId), () => this.tasks.get(this.tenant, taskId));
  }

  result(taskId: string): Promise<unknown> {
    return pollResult((id) => this.get(id), taskId);
  }

  logs(taskId: string, query: TaskLogQuery = {}): Promise<TaskLogs> {
    return answer(`${taskPath(taskId)}/logs`, async () => this.tasks.logs(this.tenant, taskId, parse(taskLogsQuerySchema, query)));
  }

  list(filter: ListFilter, page: { pageSize?: number; pageToken?: string } = {}): Promise<ListResult> {
    const { tenant: _t, ...f } = filter;
    return answer('/v1/tasks', async () => {
      const r = await this.tasks.list(this.tenant, parse(listQuerySchema, { ...f, ...page }));
      return { tasks: r.tasks, nextPageToken: r.nextPageToken };
    });
  }

  cancel = async (taskId: string): Promise<void> => void (await this.act(taskId, 'cancel'));
  pause = async (taskId: string): Promise<void> => void (await this.act(taskId, 'pause'));
  resume = async (taskId: string): Promise<void> => void (await this.act(taskId, 'resume'));
  redrive = (taskId: string, opts: { lane?: Lane } = {}) => this.act(taskId, 'redrive', parse(redriveBodySchema, opts) ?? {});
  discard = async (taskId: string): Promise<void> => void (await this.act(taskId, 'discard'));

  private act(taskId: string, action: TaskAction, opts: { lane?: Lane } = {}): Promise<RedriveResult> {
    return answer(`${taskPath(taskId)}:${action}`, async () => ({ taskId, ...(await this.tasks.act(this.tenant, taskId, action, opts)) }));
  }

  startBatch(body: BatchBody): Promise<{ batchId: string; operation: BatchBody['operation']; query: string }> {
    return answer('/v1/batches', async () =>
      startBatch(this.client.temporal, this.tenant, parse(batchBodySchema, body), this.catalog.controlQueue),
    );
  }

  getBatch(batchId: string): Promise<BatchStatus> {
    return answer(`/v1/batches/${encodeURIComponent(batchId)}`, async () =>
      describeBatch(this.client.temporal, this.tenant, parse(batchIdParam, batchId, 'id')),
    );
  }

  /**
   * The tenant's schedules as `/v1/schedules` has them. The catalog's own schedules (`tideway.*`,
   * synced from the catalog, owned by no tenant) have no HTTP route: direct mode alone lists them
   * after the tenant's and acts on them by their full schedule ID.
   */
  readonly schedules = {
    list: () =>
      answer('/v1/schedules', async () => {
        const own = await listSchedules(this.client.temporal, this.tenant);
        const fromCatalog = (await this.client.schedules.list())
          .filter((c) => c.source === 'catalog')
          .map((c): ScheduleView => ({
            id: c.scheduleId,
            scheduleId: c.scheduleId,
            ...(c.taskType ? { type: c.taskType } : {}),
            cron: c.cron,
            ...(c.timezone ? { timezone: c.timezone } : {}),
            paused: c.paused,
            nextFires: c.nextFires,
            recentActions: c.recentActions,
          }));
        return [...own, ...fromCatalog];
      }),
    get: (id: string) =>
      answer(schedulePath(id), async () => describeSchedule(this.client.temporal, this.tenant, parse(scheduleIdParam, id, 'id'))),
    create: (body: ScheduleBody) =>
      answer('/v1/schedules', async () => createSchedule(this.client.temporal, this.catalog, this.tenant, parse(scheduleBodySchema, body))),
    pause: (id: string) => this.scheduleAction(id, 'pause'),
    resume: (id: string) => this.scheduleAction(id, 'resume'),
    trigger: (id: string) => this.scheduleAction(id, 'trigger'),
    delete: (id: string) => this.scheduleAction(id, 'delete'),
  };

  private scheduleAction(id: string, action: 'pause' | 'resume' | 'trigger' | 'delete'): Promise<void> {
    if (id.startsWith(CATALOG_SCHEDULE_PREFIX)) return this.client.schedules[action](id);
    return answer(`${schedulePath(id)}${action === 'delete' ? '' : `:${action}`}`, async () =>
      scheduleAction(this.client.temporal, this.tenant, parse(scheduleIdParam, id, 'id'), action),
    );
  }

  /**
   * `/v1/pools` as an API server of this project reports it: backlog from Temporal, replicas,
   * desired and forecast from the scaler's state file (as `tideway dev` plugs it in), and the
   * backpressure limits the project's environment sets.
   */
  pools(): Promise<PoolView[]> {
    return answer('/v1/pools', async () => {
      const stats = new QueueStatsReader(this.client.temporal);
      const backpressure = new Backpressure(this.client.temporal, stats, this.project.settings.api.backpressure);
      const file = this.opts.scalerStateFile ?? defaultStateFile(this.project.settings.dataDir);
      try {
        return await describePools(this.catalog, stats, backpressure, [scalerStateFileProvider(file)]);
      } finally {
        backpressure.close();
      }
    });
  }
}

/** Keeps the fields that were given. */
function given<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function bulkPath(bulkId: string): string {
  return `/v1/bulk/${encodeURIComponent(bulkId)}`;
}

function taskPath(taskId: string): string {
  return `/v1/tasks/${encodeURIComponent(taskId)}`;
}

function schedulePath(id: string): string {
  return `/v1/schedules/${encodeURIComponent(id)}`;
}

/** Parses a request part as its route does: a failure is the route's 400 with the same issues. */
function parse<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new BadRequestError(issuesOf(r.error, prefix));
  return r.data;
}

/**
 * Runs one operation as the route at `path` would answer it, and fails as HttpTaskClient fails on
 * that answer: the server's error mapping (toErrorResponse), then the client's (errorFromAnswer).
 * A 5xx keeps its original error: there is no server log to point at.
 */
async function answer<R>(path: string, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    const r = toErrorResponse(err);
    if (r.status >= 500) throw err;
    throw errorFromAnswer(r.status, path, r.body.error, r.retryAfterSeconds);
  }
}

export interface OpenTaskApiOptions {
  /** Direct mode only: the tenant to act for (over HTTP the API key decides). @default "default" */
  tenant?: string | undefined;
  /** Direct mode only: the scaler state file `pools` reads. */
  scalerStateFile?: string | undefined;
  /** @default the process environment (through loadSettings) */
  env?: NodeJS.ProcessEnv;
  /** Called before each retry of a request refused with 429 (and of a bulk submit after a 5xx or reset). @default a note on stderr */
  onRetry?: (info: RetryInfo) => void;
}

/** The CLI's note before a retry, on stderr: "429 lane_admission: retrying in 2 s (attempt 3)". */
export function retryNote(info: RetryInfo): string {
  return `${info.reason}: retrying in ${Math.max(1, Math.round(info.waitMs / 1000))} s (attempt ${info.attempt})`;
}

const printRetryNote = (info: RetryInfo) => process.stderr.write(`${retryNote(info)}\n`);

/**
 * The task API of this CLI run: over HTTP when TIDEWAY_URL is set (TIDEWAY_API_KEY required; the
 * project's config is not even loaded), else directly over Temporal for the CLI's project.
 */
export async function openTaskApi(opts: OpenTaskApiOptions = {}): Promise<TaskApi> {
  const onRetry = opts.onRetry ?? printRetryNote;
  const http: TaskApi | undefined = HttpTaskClient.fromEnv(opts.env, { onRetry });
  if (http) return http;
  const project = await cliProject();
  return new DirectTaskApi(await TaskClient.fromProject(project), project, {
    retry: { onRetry },
    ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}),
    ...(opts.scalerStateFile !== undefined ? { scalerStateFile: opts.scalerStateFile } : {}),
  });
}

/** Runs `fn` with the run's task API and closes it afterwards. */
export async function withTaskApi<R>(opts: OpenTaskApiOptions, fn: (api: TaskApi) => Promise<R>): Promise<R> {
  const api = await openTaskApi(opts);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}
