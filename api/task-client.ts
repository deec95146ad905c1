import { randomUUID } from 'node:crypto';
import {
  Client,
  Connection,
  type ConnectionOptions,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { optionalTsToDate, tsToDate } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { createAdmission, type AdmissionGate } from '../admission';
import { DEFAULT_HIGH_WAIT_OBJECTIVE_MS, type AdmissionMode, type AdmissionSpec } from '../config/admission';
import type { Catalog } from '../config/catalog-schema';
import { loadProject, type LoadProjectOptions, type Project } from '../config/load';
import type { RegisteredTasks } from '../config/register';
import type { Logger } from '../config/log';
import { loadSettings, temporalAddressOf } from '../config/settings';
import { securityOptions } from '../temporal/connection';
import { dataConverterOf } from '../temporal/codec';
import { activeTracing, installTracing } from '../temporal/tracing';
import type { Duration } from '../config/duration';
import { ValidationError, zodIssues } from '../config/errors';
import { resolveEnvelope, taskIdSchema, type TaskEnvelope } from '../config/envelope';
import { discardSignal, pauseSignal, redriveSignal, resumeSignal, stateQuery } from '../config/messages';
import { flowStateQuery, waitReason } from '../config/flow';
import { LANES, RUN_BATCH_WORKFLOW, TASK_WORKFLOW_TYPES, TERMINAL_STATUSES, type Lane, type TaskStatus } from '../config/names';
import type { AnyTaskDefinition, BatchResult, TaskInput, TaskName, TaskOutput } from '../config/task';
import type { BatchCarry } from '../workflows/run-batch';
import type { TaskState } from '../config/task-state';
import { visibilityQuery, type ListFilter } from '../config/visibility';
import { SA_KEYS } from '../config/search-attributes';
import { FileTaskLogStore } from '../config/task-log-file';
import { TASK_LOG_DEFAULTS, taskLogQuerySchema, type TaskLogQuery, type TaskLogs, type TaskLogStore } from '../config/task-log';
import { taskStartOptions } from './start-task';
import {
  debounceSpecOf,
  debouncingState,
  singletonIdOf,
  startWithConflict,
  submitDebounced,
  type FlowSubmitOptions,
  type FlowSubmitReport,
} from './flow-submit';
import { planWeights } from '../config/plans';
import { TaskConflictError, TaskFailedError, TaskNotFoundError } from './errors';
import { TaskSchedules } from './schedules';
import { BulkIntake, type BulkAccepted, type BulkItem, type BulkStatus } from './bulk';
import { summaryFrom, type TaskSummary } from './search';

export type { TaskState } from '../config/task-state';
export type { TaskSummary } from './search';
export type { BulkAccepted, BulkItem, BulkStatus, BulkItemError } from './bulk';
export type { ListFilter } from '../config/visibility';
export type { TaskLogs, TaskLogLine, TaskLogQuery } from '../config/task-log';

export interface SubmitOptions {
  /** Task ID (= workflow ID): submitting the same ID twice runs the task once. @default a random UUID */
  taskId?: string;
  /** Overrides the type's default lane. */
  lane?: Lane;
  /** Tenant the task belongs to. @default 'default' */
  tenant?: string;
  /** Start no earlier than this from now (status `scheduled` until then). */
  delay?: Duration;
  /** A task not started within this time ends `expired`. */
  ttl?: Duration;
  callbackUrl?: string;
  tags?: string[];
  /** A caller tag the handler forwards downstream with the task ID (`ctx.tag.headers()`), e.g. a tenant's test traffic mark. */
  tag?: string;
  /** What to do when a task with this ID is open (README "Flow control"). @default the type's, else 'skip' */
  onConflict?: FlowSubmitOptions['onConflict'];
  /** Refuse the ID for this long after its task closed, even after success; then allow it again. */
  dedupeFor?: FlowSubmitOptions['dedupeFor'];
  /** Debounce under this key (the type's `debounce` gives the rest; a type without one needs period and maxWait). */
  debounce?: FlowSubmitOptions['debounce'];
  /** Fairness weight inside the lane. @default the tenant's plan's (TaskClientOptions.fairnessWeightOf), else 1 */
  fairnessWeight?: number;
}

export interface SubmitResult {
  taskId: string;
  status: TaskStatus;
  /** True when the ID already belonged to a live or succeeded task: nothing new was started. */
  duplicate: boolean;
  /** cancel_running / replace_queued: the open run this submit cancelled. */
  replaced?: FlowSubmitReport['replaced'];
  /** A debounced submit: its window now (`taskId` is the window's task ID). */
  debounce?: FlowSubmitReport['debounce'];
}

/** What `redrive` did. */
export interface RedriveResult {
  taskId: string;
  /** A batch: the failed shards this redrive runs again (a dead-lettered task: unset). */
  shards?: number;
  /** A batch: its failed shards in all (more than `shards` when over the 1,000 IDs a batch keeps). */
  failed?: number;
}

export interface ListResult {
  tasks: TaskSummary[];
  nextPageToken: string | undefined;
}

export interface TaskClientOptions<T extends readonly AnyTaskDefinition[]> {
  client: Client;
  catalog: Catalog<T>;
  /**
   * How this client's starts of the normal and low lanes are admitted (admission/): a mode
   * (`{ kind: 'adaptive', objectiveMs }`, `{ kind: 'off' }`, `{ kind: 'fixed', spec }`), a fixed
   * spec such as `parseAdmission('low=8/s')`, or a gate to share with other clients of the process.
   * The client closes a gate it built, not one it was given.
   * @default adaptive, with the default objective (250 ms)
   */
  admission?: AdmissionMode | AdmissionSpec | AdmissionGate;
  /** How long a submit may wait for its lane's permit before `AdmissionThrottledError`. @default 30s */
  admissionMaxWaitMs?: number;
  /** Where the adaptive controller logs its decisions. @default none */
  logger?: Logger;
  /** Where `logs()` reads task lines. @default the files under the settings' TIDEWAY_TASK_LOG_DIR */
  taskLogs?: TaskLogStore;
  /** The fairness weight of a tenant's tasks inside their lane (its plan's; config/plans.ts). @default none: weight 1 */
  fairnessWeightOf?: (tenant: string) => number | undefined;
}

const STATUS_NAMES = temporal.api.enums.v1.WorkflowExecutionStatus;
const PAUSABLE: readonly TaskStatus[] = ['scheduled', 'queued', 'running', 'retrying'];

/**
 * Submit and manage tasks directly over Temporal, typed by the catalog: `submit('demo.sleep',
 * { ms: 'x' })` does not compile. Input is validated before anything starts.
 */
export class TaskClient<T extends readonly AnyTaskDefinition[] = RegisteredTasks> {
  readonly temporal: Client;
  readonly catalog: Catalog<T>;
  /** Cron schedules (Temporal Schedules underneath). */
  readonly schedules: TaskSchedules;
  /** Durable bulk intake (submitMany, bulkStatus, cancelBulk use it). */
  readonly bulk: BulkIntake;
  private ownedConnection: Connection | undefined;

  /** The lane admission gate every submit passes (`admission.rates()` says which lanes are paced, and how fast). */
  readonly admission: AdmissionGate;
  private readonly admissionMaxWaitMs: number;
  private readonly ownsAdmission: boolean;
  private taskLogStore: TaskLogStore | undefined;
  private readonly fairnessWeightOf: ((tenant: string) => number | undefined) | undefined;

  constructor(opts: TaskClientOptions<T>) {
    this.fairnessWeightOf = opts.fairnessWeightOf;
    this.temporal = opts.client;
    this.catalog = opts.catalog;
    this.schedules = new TaskSchedules(opts.client, opts.catalog.app);
    this.bulk = new BulkIntake(opts.client, opts.catalog);
    const a = opts.admission;
    this.ownsAdmission = !isGate(a);
    this.admission = isGate(a)
      ? a
      : createAdmission({
          mode: toMode(a),
          client: opts.client,
          catalog: opts.catalog as unknown as Catalog,
          ...(opts.logger ? { log: opts.logger } : {}),
        });
    this.admissionMaxWaitMs = opts.admissionMaxWaitMs ?? 30_000;
    this.taskLogStore = opts.taskLogs;
  }

  /** The store `logs()` reads; without one given, the process settings' files (read once, when first needed). */
  get taskLogs(): TaskLogStore {
    this.taskLogStore ??= new FileTaskLogStore({ dir: loadSettings().taskLogs.dir });
    return this.taskLogStore;
  }

  /**
   * Connects to Temporal for `catalog` (its app decides the queues). Address and namespace default
   * to the process's settings, TEMPORAL_ADDRESS (else 127.0.0.1:7233) and TEMPORAL_NAMESPACE (else
   * `default`); admission to TIDEWAY_ADMISSION and TIDEWAY_HIGH_WAIT_OBJECTIVE (adaptive unless
   * set). `TaskClient.fromConfig()` reads all of it from tideway.config.ts instead.
   */
  static async connect<C extends readonly AnyTaskDefinition[]>(opts: {
    catalog: Catalog<C>;
    address?: string;
    namespace?: string;
    /** TLS and API key (see `securityOptions` for building them from settings). */
    connection?: Omit<ConnectionOptions, 'address'>;
    /** Payload codecs (encryption). @default the settings' (TIDEWAY_CODEC_KEYS: encrypted when keys are set) */
    dataConverter?: DataConverter;
    admission?: AdmissionMode | AdmissionSpec | AdmissionGate;
    admissionMaxWaitMs?: number;
    logger?: Logger;
    taskLogs?: TaskLogStore;
    fairnessWeightOf?: (tenant: string) => number | undefined;
  }): Promise<TaskClient<C>> {
    // The environment is read (and checked) only for what the caller left out.
    const defaults =
      opts.address === undefined || opts.namespace === undefined || opts.admission === undefined || opts.dataConverter === undefined
        ? loadSettings()
        : undefined;
    const admission = opts.admission ?? defaults?.admission;
    const connection = await Connection.connect({
      ...opts.connection,
      address: opts.address ?? defaults?.temporalAddress ?? '127.0.0.1:7233',
    });
    // A process with tracing on (installTracing) traces its submits: the span goes into the start headers.
    const tracing = activeTracing();
    const client = new Client({
      connection,
      namespace: opts.namespace ?? defaults?.namespace ?? 'default',
      dataConverter: opts.dataConverter ?? (defaults ? dataConverterOf(defaults) : {}),
      ...(tracing ? { interceptors: { workflow: tracing.clientInterceptors() } } : {}),
    });
    const tc = new TaskClient<C>({
      client,
      catalog: opts.catalog,
      ...(admission !== undefined ? { admission } : {}),
      ...(opts.admissionMaxWaitMs !== undefined ? { admissionMaxWaitMs: opts.admissionMaxWaitMs } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.taskLogs ? { taskLogs: opts.taskLogs } : {}),
      ...(opts.fairnessWeightOf ? { fairnessWeightOf: opts.fairnessWeightOf } : {}),
    });
    tc.ownedConnection = connection;
    return tc;
  }

  /**
   * Connects with everything from the project's tideway.config.ts (or `--config`/TIDEWAY_CONFIG
   * via `opts.config`): its catalog, Temporal address, namespace, TLS and lane budgets.
   */
  static async fromConfig(opts: LoadProjectOptions = {}): Promise<TaskClient> {
    return TaskClient.fromProject(await loadProject(opts));
  }

  /** Connects for a loaded project: its catalog, Temporal address, namespace, TLS and lane admission. */
  static async fromProject(project: Project): Promise<TaskClient> {
    const s = project.settings;
    await installTracing(s.tracing.otlpEndpoint, 'tideway-client');
    return TaskClient.connect({
      catalog: project.catalog,
      address: temporalAddressOf(s),
      namespace: s.namespace,
      connection: securityOptions(s),
      dataConverter: dataConverterOf(s),
      // No logger: the CLI runs through here and its stdout is for its own output.
      admission: s.admission,
      taskLogs: new FileTaskLogStore({ dir: s.taskLogs.dir, maxLines: s.taskLogs.maxLines, maxBytes: s.taskLogs.maxBytes }),
      fairnessWeightOf: planWeights(s.plans),
    });
  }

  /** Closes the admission gate this client built (waiting submits fail) and a connection it opened. */
  async close(): Promise<void> {
    if (this.ownsAdmission) await this.admission.close();
    // A short-lived process (the CLI) would otherwise exit with its submit's spans unsent.
    await activeTracing()?.flush();
    await this.ownedConnection?.close();
  }

  /**
   * Submits a task. A second submit of an ID that is live or succeeded returns that task with
   * `duplicate: true` and starts nothing; an ID whose last run failed runs again.
   */
  async submit<K extends TaskName<T>>(type: K, input: TaskInput<T, K>, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const { onConflict, dedupeFor, debounce, fairnessWeight, ...rest } = opts;
    const flow: FlowSubmitOptions = {
      ...(onConflict !== undefined ? { onConflict } : {}),
      ...(dedupeFor !== undefined ? { dedupeFor } : {}),
      ...(debounce !== undefined ? { debounce } : {}),
      ...(fairnessWeight !== undefined ? { fairnessWeight } : {}),
    };
    return this.submitEnvelope({ type, input, ...envelopeFields(rest) }, opts.taskId, flow);
  }

  /**
   * Untyped submit of a whole envelope (HTTP API, CLI); validated the same way. `flow` holds the
   * submit's flow-control overrides (conflict mode, dedupe window, debounce, fairness weight).
   */
  async submitEnvelope(envelope: TaskEnvelope, taskId?: string, flow: FlowSubmitOptions = {}): Promise<SubmitResult> {
    const resolved = resolveEnvelope(this.catalog, envelope);
    const task = this.catalog.get(resolved.type)!;
    const weight = flow.fairnessWeight ?? this.fairnessWeightOf?.(resolved.tenant);
    const debounce = debounceSpecOf(task, resolved.input, flow.debounce);
    if (debounce) {
      // The window decides the run's ID, so the caller follows the window's task ID instead.
      if (taskId !== undefined)
        throw new ValidationError([{ path: 'taskId', message: "a debounced submit gets its window's task ID; leave taskId out" }]);
      const { taskId: windowId, view } = await submitDebounced(this.temporal, this.catalog, resolved, envelope, debounce, weight);
      return { taskId: windowId, status: 'debouncing', duplicate: false, debounce: view };
    }
    const id = taskId ?? singletonIdOf(task, resolved.input) ?? randomUUID();
    const idCheck = taskIdSchema.safeParse(id);
    if (!idCheck.success) throw new ValidationError(zodIssues(idCheck.error.issues, 'taskId'));
    // After validation (bad input never takes a permit), before the start: a paced lane waits its turn.
    await this.admission.acquire(resolved.lane, resolved.tenant, { maxWaitMs: this.admissionMaxWaitMs });
    const { workflowType, options, status } = taskStartOptions(this.catalog, resolved, envelope, id, {
      ...(weight !== undefined ? { fairnessWeight: weight } : {}),
    });
    const startedAt = performance.now();
    const outcome = await startWithConflict(this.temporal, task, workflowType, options, flow);
    // A duplicate is answered by the server as fast as a start: still a health sample.
    this.admission.observeStart(resolved.lane, performance.now() - startedAt);
    if (!outcome.duplicate) return { taskId: id, status, duplicate: false, ...(outcome.replaced ? { replaced: outcome.replaced } : {}) };
    const existing = await this.describe(id);
    return { taskId: id, status: existing.status ?? 'queued', duplicate: true };
  }

  /**
   * Hands up to 100,000 tasks to Tideway in one call. Every item is validated at once (a bad one is
   * reported in `errors` and sinks nothing else); the valid ones are accepted durably, one Temporal
   * start per chunk of 500, and started by the control process's intake at the rate lane admission
   * allows. Submitting the same `bulkId` again with the same items accepts nothing twice.
   */
  async submitMany(items: readonly BulkItem[], opts: { bulkId?: string; tenant?: string } = {}): Promise<BulkAccepted> {
    return this.bulk.submit(items, opts);
  }

  /** Accepted, started, duplicate, failed and cancelled counts of a bulk. */
  async bulkStatus(bulkId: string): Promise<BulkStatus> {
    return this.bulk.status(bulkId);
  }

  /** Stops a bulk: its tasks not started yet never start, its started unfinished ones are cancelled. */
  async cancelBulk(bulkId: string): Promise<{ bulkId: string; cancelledChunks: number }> {
    return this.bulk.cancel(bulkId);
  }

  /**
   * Current state of a task (query `state`; falls back to visibility when no worker answers). A task
   * that a bulk accepted and has not started yet is reported with status `accepted`.
   */
  async get(taskId: string): Promise<TaskState> {
    try {
      return this.stateOf(await this.describe(taskId));
    } catch (err) {
      if (!(err instanceof TaskNotFoundError)) throw err;
      // The debounce lookup is by ID alone; the bulk one may wait out visibility lag, so it goes last.
      const pending = (await this.debouncingState(taskId)) ?? (await this.pendingState(taskId));
      if (pending) return pending;
      throw err;
    }
  }

  /** The state of a task a running bulk intake holds but has not started, or undefined. */
  async pendingState(taskId: string, tenant?: string): Promise<TaskState | undefined> {
    const p = await this.bulk.findPending(taskId, tenant);
    if (!p) return undefined;
    const group = this.catalog.get(p.type)?.group ?? null;
    return {
      taskId,
      type: p.type,
      status: 'accepted',
      attempts: 0,
      lane: p.lane,
      group,
      tenant: p.tenant,
      paused: false,
      promotions: [],
      redrives: 0,
      bulkId: p.bulkId,
      timestamps: { submittedAt: p.acceptedAt },
    };
  }

  /** The state of a debounce window (its task ID) whose run has not started yet, or undefined. */
  async debouncingState(taskId: string, tenant?: string): Promise<TaskState | undefined> {
    return debouncingState(this.temporal, this.catalog as unknown as Catalog, taskId, tenant);
  }

  /**
   * A task waiting for a flow permit says why with the figures of when it asked; the limiter's own
   * query gives the live ones ("2/2 running" now). Best effort: the stored text stays otherwise.
   */
  private async withLiveFlow(state: TaskState): Promise<TaskState> {
    const w = state.flow?.waiting;
    if (!state.flow || !w) return state;
    try {
      const live = await this.temporal.workflow.getHandle(w.limiter).query(flowStateQuery);
      const waiting = {
        ...w,
        running: live.running,
        limit: live.limit,
        reason: waitReason(w.kind, w.key, live.running, live.limit, live.perMs),
      };
      return { ...state, flow: { ...state.flow, waiting } };
    } catch {
      return state;
    }
  }

  /** `get` for a task whose summary the caller already has (saves a describe call). */
  async stateOf(summary: TaskSummary): Promise<TaskState> {
    const taskId = summary.taskId;
    try {
      return await this.withLiveFlow(await this.handle(taskId).query(stateQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(taskId);
      // No control worker to answer: report what visibility knows.
      return {
        taskId,
        type: summary.type ?? '',
        status: summary.status ?? 'queued',
        attempts: 0,
        lane: summary.lane ?? null,
        group: summary.group ?? null,
        tenant: summary.tenant ?? 'default',
        paused: summary.status === 'paused',
        promotions: [],
        redrives: 0,
        timestamps: { submittedAt: summary.startTime, ...(summary.closeTime ? { finishedAt: summary.closeTime } : {}) },
      };
    }
  }

  /** Waits for the task to finish and returns its result; throws `TaskFailedError` if it did not succeed. */
  async result<K extends TaskName<T>>(taskId: string, _type?: K): Promise<TaskOutput<T, K>> {
    // A debounce window's run starts when the window closes: wait for it (at most its maxWait).
    while (await this.debouncingState(taskId)) await new Promise((r) => setTimeout(r, 250));
    try {
      return (await this.handle(taskId).result()) as TaskOutput<T, K>;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(taskId);
      if (err instanceof WorkflowFailedError) {
        const s = await this.describe(taskId).catch(() => undefined);
        const cause = err.cause?.message ?? err.message;
        throw new TaskFailedError(taskId, s?.status ?? 'failed', `task ${taskId} ${s?.status ?? 'failed'}: ${cause}`, { cause: err });
      }
      throw err;
    }
  }

  /** Lists tasks from visibility with filters on Tideway's search attributes, one page at a time. */
  async list(filter: ListFilter = {}, page: { pageSize?: number; pageToken?: string } = {}): Promise<ListResult> {
    const res = await this.temporal.workflowService.listWorkflowExecutions({
      namespace: this.temporal.options.namespace,
      query: visibilityQuery(filter, { controlQueue: this.catalog.controlQueue }),
      pageSize: page.pageSize ?? 100,
      ...(page.pageToken ? { nextPageToken: Buffer.from(page.pageToken, 'base64url') } : {}),
    });
    const tasks = (res.executions ?? []).map((e) =>
      summaryFrom(
        e.execution?.workflowId ?? '',
        e.execution?.runId ?? '',
        decodeTypedSearchAttributes(e.searchAttributes?.indexedFields),
        STATUS_NAMES[e.status ?? 0]?.replace('WORKFLOW_EXECUTION_STATUS_', '') ?? 'UNKNOWN',
        tsToDate(e.startTime!),
        optionalTsToDate(e.closeTime),
      ),
    );
    const token = res.nextPageToken && res.nextPageToken.length > 0 ? Buffer.from(res.nextPageToken).toString('base64url') : undefined;
    return { tasks, nextPageToken: token };
  }

  /** Counts tasks matching a filter. */
  async count(filter: ListFilter = {}): Promise<number> {
    const res = await this.temporal.workflow.count(visibilityQuery(filter, { controlQueue: this.catalog.controlQueue }));
    return res.count;
  }

  /** Cancels a task: a queued task never runs; a running handler sees its AbortSignal fire. */
  async cancel(taskId: string): Promise<void> {
    const s = await this.describe(taskId);
    if (s.executionStatus !== 'RUNNING' || (s.status && TERMINAL_STATUSES.includes(s.status))) {
      throw new TaskConflictError(
        taskId,
        s.status ?? s.executionStatus,
        `task ${taskId} is ${s.status ?? s.executionStatus}; only unfinished tasks can be cancelled`,
      );
    }
    await this.handle(taskId).cancel();
  }

  /** Holds a task: no new attempt starts until `resume` (a running attempt finishes). */
  async pause(taskId: string): Promise<void> {
    const s = await this.get(taskId);
    if (s.paused || !PAUSABLE.includes(s.status)) {
      throw new TaskConflictError(
        taskId,
        s.status,
        `task ${taskId} is ${s.paused ? 'already paused' : s.status}; only scheduled, queued, running or retrying tasks can be paused`,
      );
    }
    await this.handle(taskId).signal(pauseSignal);
  }

  /** Releases a paused task. */
  async resume(taskId: string): Promise<void> {
    const s = await this.get(taskId);
    if (!s.paused) throw new TaskConflictError(taskId, s.status, `task ${taskId} is ${s.status}, not paused`);
    await this.handle(taskId).signal(resumeSignal);
  }

  /**
   * Runs a dead-lettered task again with a fresh attempt budget, optionally on another lane. On a
   * batch task that finished with failed shards (`onShardFailure: 'continue'`), runs just those
   * shards again and folds their results into the batch's output (see `redriveBatch`).
   */
  async redrive(taskId: string, opts: { lane?: Lane } = {}): Promise<RedriveResult> {
    if (opts.lane !== undefined && !(LANES as readonly string[]).includes(opts.lane)) {
      throw new ValidationError([{ path: 'lane', message: `lane must be one of ${LANES.join(', ')}` }]);
    }
    const d = await this.describeExecution(taskId);
    if (d.type === RUN_BATCH_WORKFLOW) return this.redriveBatch(taskId, d, opts);
    const s = await this.get(taskId);
    if (s.status !== 'dead_lettered') {
      throw new TaskConflictError(taskId, s.status, `task ${taskId} is ${s.status}; only dead_lettered tasks can be redriven`);
    }
    await this.handle(taskId).signal(redriveSignal, opts.lane ? { lane: opts.lane } : {});
    return { taskId };
  }

  /**
   * Redrives the failed shards of a batch that completed with some (onShardFailure `continue`): a
   * new run of `runBatch` under the same ID (the batch's next run, like a continue-as-new) carries
   * the finished run's output, counts and failed shard IDs; it redrives each failed shard (signal
   * when dead-lettered, a new start when closed), at most `maxParallel` at once, and reduces their
   * results into that output. Shards that succeeded never run again.
   */
  private async redriveBatch(taskId: string, d: WorkflowExecutionDescription, opts: { lane?: Lane }): Promise<RedriveResult> {
    if (opts.lane !== undefined) {
      throw new ValidationError([{ path: 'lane', message: "a batch's shards run on the batch's lane; lane applies to one task" }]);
    }
    const status = d.typedSearchAttributes.get(SA_KEYS.TaskStatus) ?? d.status.name;
    if (d.status.name === 'RUNNING') {
      throw new TaskConflictError(
        taskId,
        status,
        `batch ${taskId} is ${status}; a batch can be redriven once it has finished with failed shards`,
      );
    }
    if (d.status.name !== 'COMPLETED') {
      throw new TaskConflictError(
        taskId,
        status,
        `batch ${taskId} is ${status}; only a batch that completed with failed shards (onShardFailure continue) can be redriven. ` +
          'Submit it again under the same ID instead: shards that succeeded are not run again; redrive or discard its dead-lettered shards first',
      );
    }
    const prev = (await this.handle(taskId).result()) as BatchResult;
    if (!prev || prev.failed === 0 || prev.failedShards.length === 0) {
      throw new TaskConflictError(taskId, status, `batch ${taskId} has no failed shards; nothing to redrive`);
    }
    // The finished run's arguments: the envelope, and the carry of a continued or redriven run.
    const res = await this.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: this.temporal.options.namespace,
      execution: { workflowId: taskId, runId: d.runId },
      maximumPageSize: 1,
    });
    const input = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    const [envelope, , last] = (await decodeArrayFromPayloads(this.temporal.options.loadedDataConverter, input)) as [
      TaskEnvelope,
      unknown,
      BatchCarry | undefined,
    ];
    const resolved = resolveEnvelope(this.catalog, envelope);
    const { workflowType, options } = taskStartOptions(this.catalog, resolved, envelope, taskId);
    const carry: BatchCarry = {
      next: prev.total,
      cursor: prev.total,
      splitDone: true,
      pending: [],
      done: prev.succeeded,
      failed: prev.failed,
      failedShards: prev.failedShards,
      hasAcc: true,
      acc: prev.output,
      runs: last?.runs ?? 1,
      submittedAt: last?.submittedAt ?? d.startTime.toISOString(),
      ...(last?.startedAt ? { startedAt: last.startedAt } : {}),
      redrive: {
        round: (last?.redrive?.round ?? 0) + 1,
        shards: prev.failedShards,
        next: 0,
        succeeded: 0,
        failed: 0,
        redrivenBefore: prev.redriven ?? 0,
      },
    };
    try {
      // A new run of the finished batch: this start only may follow a completed run of the ID.
      await this.temporal.workflow.start(workflowType, {
        ...options,
        args: [...(options.args ?? []), carry],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      throw new TaskConflictError(taskId, 'running', `batch ${taskId} is being redriven already`, { cause: err });
    }
    return { taskId, shards: prev.failedShards.length, failed: prev.failed };
  }

  /** Closes a dead-lettered task as `failed` now instead of at the end of its retention. */
  async discard(taskId: string): Promise<void> {
    const s = await this.get(taskId);
    if (s.status !== 'dead_lettered') {
      throw new TaskConflictError(taskId, s.status, `task ${taskId} is ${s.status}; only dead_lettered tasks can be discarded`);
    }
    await this.handle(taskId).signal(discardSignal);
  }

  /**
   * A page of a task's log lines (what its handlers wrote with `ctx.log`), oldest first, across
   * attempts and workers: `after` is the `next` of an earlier page (from the start when unset),
   * `limit` at most 1,000 (@default 200). Unknown task: TaskNotFoundError.
   */
  async logs(taskId: string, query: TaskLogQuery = {}): Promise<TaskLogs> {
    const q = taskLogQuerySchema.safeParse(query);
    if (!q.success) throw new ValidationError(zodIssues(q.error.issues));
    const summary = await this.describe(taskId);
    return this.logsOf(summary, q.data);
  }

  /** `logs` for a task whose summary the caller already has (the HTTP API checked its tenant with it). */
  async logsOf(summary: TaskSummary, query: { after?: string | undefined; limit?: number | undefined }): Promise<TaskLogs> {
    const page = await this.taskLogs.read(summary.taskId, { after: query.after, limit: query.limit ?? TASK_LOG_DEFAULTS.pageSize });
    return { taskId: summary.taskId, ...(summary.status ? { status: summary.status } : {}), ...page };
  }

  /** Visibility summary of the latest run of a task. */
  async describe(taskId: string): Promise<TaskSummary> {
    const d = await this.describeExecution(taskId);
    return summaryFrom(d.workflowId, d.runId, d.typedSearchAttributes, d.status.name, d.startTime, d.closeTime);
  }

  /** Temporal's description of the latest run of a task of this client's app (else TaskNotFoundError). */
  private async describeExecution(taskId: string): Promise<WorkflowExecutionDescription> {
    try {
      const d = await this.handle(taskId).describe();
      // Another app's task on the same namespace is not this client's to see.
      if (!TASK_WORKFLOW_TYPES.includes(d.type) || d.taskQueue !== this.catalog.controlQueue) throw new TaskNotFoundError(taskId);
      return d;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(taskId);
      throw err;
    }
  }

  /** The Temporal handle of a task, for anything TaskClient does not wrap. */
  handle(taskId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(taskId);
  }
}

/**
 * A TaskClient of any catalog, for code that serves whatever catalog it is handed (the HTTP API,
 * the CLI). A typed client's method signatures are narrower, so it is not assignable to the
 * unregistered TaskClient; `any` here says "the catalog is not known at compile time".
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTaskClient = TaskClient<any>;

function isGate(a: TaskClientOptions<readonly AnyTaskDefinition[]>['admission']): a is AdmissionGate {
  return typeof a === 'object' && a !== null && typeof (a as Partial<AdmissionGate>).acquire === 'function';
}

/** A mode as given, a bare spec as fixed budgets (the option's old form), nothing as the adaptive default. */
function toMode(a: AdmissionMode | AdmissionSpec | undefined): AdmissionMode {
  if (a === undefined) return { kind: 'adaptive', objectiveMs: DEFAULT_HIGH_WAIT_OBJECTIVE_MS };
  return 'kind' in a ? (a as AdmissionMode) : { kind: 'fixed', spec: a as AdmissionSpec };
}

function envelopeFields(opts: SubmitOptions): Omit<TaskEnvelope, 'type' | 'input'> {
  const { taskId: _id, ...rest } = opts;
  return rest;
}
