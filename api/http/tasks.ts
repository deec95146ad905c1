import { isGrpcServiceError } from '@temporalio/client';
import type { Catalog } from '../../config/catalog-schema';
import type { Duration } from '../../config/duration';
import { resolveEnvelope, type TaskEnvelope } from '../../config/envelope';
import { TaskNotFoundError } from '../errors';
import { newBulkId } from '../bulk';
import type { TaskSummary } from '../search';
import type { AnyTaskClient, BulkItem, ListResult, SubmitResult, TaskLogs, TaskState } from '../task-client';
import type { Backpressure } from './backpressure';
import { BadRequestError, ConflictError, toErrorResponse } from './errors';
import {
  MAX_BULK,
  issuesOf,
  submitBodySchema,
  taskRefParam,
  type BulkAccepted,
  type BulkStatus,
  type ListQuery,
  type SubmitInput,
  type TaskAction,
} from './schemas';

/**
 * Task operations on behalf of one tenant: everything the task routes do, with the tenant applied
 * server-side. Another tenant's task is reported exactly like a missing one.
 */
export class TenantTasks {
  constructor(
    private readonly client: AnyTaskClient,
    private readonly catalog: Catalog,
    private readonly backpressure: Backpressure | undefined,
    private readonly onSubmit?: (tenant: string, outcome: 'started' | 'duplicate' | 'rejected') => void,
  ) {}

  /**
   * Submits one task whose body (and `idempotencyKey`, the header) passed their schemas; the key and
   * body `taskId` must agree if both are given.
   */
  async submit(tenant: string, b: SubmitInput, idempotencyKey?: string): Promise<SubmitResult> {
    if (idempotencyKey !== undefined && b.taskId !== undefined && b.taskId !== idempotencyKey) {
      throw new BadRequestError([{ path: 'taskId', message: 'taskId and the Idempotency-Key header differ' }]);
    }
    const taskId = b.taskId ?? idempotencyKey;
    const envelope = envelopeOf(tenant, b);
    // Validate against the catalog before any throttling decision, so bad input is always a 400.
    const resolved = resolveEnvelope(this.catalog, envelope);
    if (this.backpressure) await this.backpressure.admit(tenant, resolved.taskQueue);
    const res = await this.client.submitEnvelope(envelope, taskId, {
      ...(b.onConflict !== undefined ? { onConflict: b.onConflict } : {}),
      ...(b.dedupeFor !== undefined ? { dedupeFor: b.dedupeFor as Duration } : {}),
      ...(b.debounce !== undefined ? { debounce: b.debounce } : {}),
    });
    if (res.duplicate) {
      // Task IDs are global (they are workflow IDs); never hand one tenant another's task.
      const existing = await this.client.describe(res.taskId);
      if (existing.tenant !== tenant) throw new ConflictError(`taskId ${res.taskId} is not available; choose another`);
      this.onSubmit?.(tenant, 'duplicate');
    } else {
      this.backpressure?.started(tenant);
      this.onSubmit?.(tenant, 'started');
    }
    return res;
  }

  /**
   * Hands a whole bulk to the durable intake (TaskClient.submitMany's `bulk.accept`): each body is checked against
   * the submit schema here, then against the catalog there; every bad item gets its own error.
   * Nothing waits for lane admission here: the intake paces the starts.
   */
  async submitBulk(tenant: string, items: readonly unknown[], bulkId?: string): Promise<BulkAccepted> {
    if (items.length > MAX_BULK) throw new BadRequestError([{ path: 'tasks', message: `at most ${MAX_BULK} tasks per bulk` }]);
    const errors: BulkAccepted['errors'] = [];
    const valid: { index: number; item: BulkItem }[] = [];
    for (const [index, raw] of items.entries()) {
      const bad = invalidJsonLine(raw);
      if (bad) {
        errors.push({ index, httpStatus: 400, error: { type: 'MalformedJson', message: bad } });
        continue;
      }
      const b = submitBodySchema.safeParse(raw);
      if (!b.success) {
        const e = toErrorResponse(new BadRequestError(issuesOf(b.error)));
        errors.push({ index, httpStatus: e.status, error: prefixIssues(e.body.error, `tasks.${index}`) });
        continue;
      }
      // A bulk goes through the intake workflow, which starts plain tasks: these per-submit modes would
      // be dropped silently there, so an item naming one is refused instead.
      const single = (['onConflict', 'dedupeFor', 'debounce'] as const).filter((k) => b.data[k] !== undefined);
      if (single.length > 0) {
        const e = toErrorResponse(
          new BadRequestError(
            single.map((k) => ({ path: k, message: `${k} is not supported in a bulk item; submit this task on its own (POST /v1/tasks)` })),
          ),
        );
        errors.push({ index, httpStatus: e.status, error: prefixIssues(e.body.error, `tasks.${index}`) });
        continue;
      }
      const { taskId, ...body } = b.data;
      valid.push({ index, item: { ...envelopeOf(tenant, body), ...(taskId !== undefined ? { taskId } : {}) } });
    }
    const taskIds: (string | null)[] = new Array(items.length).fill(null);
    if (valid.length === 0) {
      return { bulkId: bulkId ?? newBulkId(), accepted: 0, rejected: errors.length, taskIds, errors };
    }
    const { answer: r, perQueue } = await this.client.bulk.accept(
      valid.map((v) => v.item),
      { tenant, ...(bulkId !== undefined ? { bulkId } : {}) },
    );
    r.taskIds.forEach((id, i) => {
      taskIds[valid[i]!.index] = id;
    });
    for (const e of r.errors) {
      const index = valid[e.index]!.index;
      errors.push({ ...e, index, error: prefixIssues(e.error, `tasks.${index}`) });
    }
    errors.sort((a, b) => a.index - b.index);
    if (this.backpressure) for (const [q, n] of perQueue) this.backpressure.record(tenant, q, n);
    for (let i = 0; i < r.accepted; i++) this.onSubmit?.(tenant, 'started');
    for (let i = 0; i < errors.length; i++) this.onSubmit?.(tenant, 'rejected');
    return { bulkId: r.bulkId, accepted: r.accepted, rejected: errors.length, taskIds, errors };
  }

  async bulkStatus(tenant: string, bulkId: string): Promise<BulkStatus> {
    return this.client.bulk.status(bulkId, tenant);
  }

  async cancelBulk(tenant: string, bulkId: string): Promise<{ bulkId: string; cancelledChunks: number; batchJobId?: string }> {
    return this.client.bulk.cancel(bulkId, tenant);
  }

  /** The tenant's task summary, or TaskNotFound (also for another tenant's task). */
  async describe(tenant: string, rawId: string): Promise<TaskSummary> {
    const id = this.taskId(rawId);
    const s = await this.client.describe(id);
    if (s.tenant !== tenant) throw new TaskNotFoundError(id);
    return s;
  }

  /** A task's state; one a bulk of this tenant accepted and has not started yet is `accepted`. */
  async get(tenant: string, rawId: string): Promise<TaskState> {
    try {
      return await this.client.stateOf(await this.describe(tenant, rawId));
    } catch (err) {
      if (!(err instanceof TaskNotFoundError)) throw err;
      const id = this.taskId(rawId);
      // The debounce lookup is by ID alone; the bulk one may wait out visibility lag, so it goes last.
      const pending = (await this.client.debouncingState(id, tenant)) ?? (await this.client.pendingState(id, tenant));
      if (pending) return pending;
      throw err;
    }
  }

  /** A page of one of the tenant's tasks' log lines (another tenant's task: TaskNotFound). */
  async logs(tenant: string, rawId: string, query: { after?: string | undefined; limit?: number | undefined }): Promise<TaskLogs> {
    return this.client.logsOf(await this.describe(tenant, rawId), query);
  }

  /** Lists the tenant's tasks; the tenant clause is added here whatever the query says. */
  async list(tenant: string, query: ListQuery): Promise<ListResult> {
    const { pageSize, pageToken, ...filter } = query;
    try {
      return await this.client.list({ ...filter, tenant }, { pageSize: pageSize ?? 100, ...(pageToken ? { pageToken } : {}) });
    } catch (err) {
      // A forged page token is the caller's mistake, not ours.
      if (isGrpcServiceError(err) && err.code === 3) throw new BadRequestError([{ path: 'pageToken', message: 'invalid page token' }]);
      throw err;
    }
  }

  /** Runs an operator action on one of the tenant's tasks; a batch redrive says how many shards it re-runs. */
  async act(
    tenant: string,
    rawId: string,
    action: TaskAction,
    opts: { lane?: 'high' | 'normal' | 'low' } = {},
  ): Promise<{ shards?: number; failed?: number }> {
    const s = await this.describe(tenant, rawId);
    if (action === 'redrive') {
      const { shards, failed } = await this.client.redrive(s.taskId, opts);
      return { ...(shards !== undefined ? { shards } : {}), ...(failed !== undefined ? { failed } : {}) };
    }
    await this.client[action](s.taskId);
    return {};
  }

  // The route checked it already; the CLI's direct mode passes what the operator typed.
  private taskId(raw: string): string {
    const r = taskRefParam.safeParse(raw);
    if (!r.success) throw new BadRequestError(issuesOf(r.error, 'id'));
    return r.data;
  }
}

/** The envelope of a submit body that passed its schema; the tenant is the caller's. */
function envelopeOf(tenant: string, b: Omit<SubmitInput, 'taskId'>): TaskEnvelope {
  return {
    type: b.type,
    input: b.input,
    tenant,
    ...(b.lane ? { lane: b.lane } : {}),
    ...(b.delay !== undefined ? { delay: b.delay as TaskEnvelope['delay'] } : {}),
    ...(b.ttl !== undefined ? { ttl: b.ttl as TaskEnvelope['ttl'] } : {}),
    ...(b.callbackUrl ? { callbackUrl: b.callbackUrl } : {}),
    ...(b.tags ? { tags: b.tags } : {}),
    ...(b.tag ? { tag: b.tag } : {}),
  };
}

/** Key of the item an NDJSON body gets for a line that is not JSON (so it is reported, not dropped). */
export const INVALID_JSON_LINE = '$invalidJsonLine';

function invalidJsonLine(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== 'object' || !(INVALID_JSON_LINE in raw)) return undefined;
  return String((raw as Record<string, unknown>)[INVALID_JSON_LINE]);
}

function prefixIssues(e: { type: string; message: string; details?: unknown }, prefix: string) {
  const d = e.details as { issues?: { path: string; message: string }[] } | undefined;
  if (!d?.issues) return e;
  return { ...e, details: { ...d, issues: d.issues.map((i) => ({ path: i.path ? `${prefix}.${i.path}` : prefix, message: i.message })) } };
}
