import { isGrpcServiceError } from '@temporalio/client';
import type { Catalog } from '../../config/catalog-schema';
import { resolveEnvelope, type TaskEnvelope } from '../../config/envelope';
import { TaskNotFoundError } from '../errors';
import type { TaskSummary } from '../search';
import type { AnyTaskClient, ListResult, SubmitResult, TaskState } from '../task-client';
import type { Backpressure } from './backpressure';
import { BadRequestError, ConflictError, toErrorResponse } from './errors';
import {
  MAX_BULK,
  issuesOf,
  submitBodySchema,
  taskIdParam,
  type BulkItemResult,
  type BulkResult,
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
    const envelope: TaskEnvelope = {
      type: b.type,
      input: b.input,
      tenant,
      ...(b.lane ? { lane: b.lane } : {}),
      ...(b.delay !== undefined ? { delay: b.delay as TaskEnvelope['delay'] } : {}),
      ...(b.ttl !== undefined ? { ttl: b.ttl as TaskEnvelope['ttl'] } : {}),
      ...(b.callbackUrl ? { callbackUrl: b.callbackUrl } : {}),
      ...(b.tags ? { tags: b.tags } : {}),
    };
    // Validate against the catalog before any throttling decision, so bad input is always a 400.
    const resolved = resolveEnvelope(this.catalog, envelope);
    if (this.backpressure) await this.backpressure.admit(tenant, resolved.taskQueue);
    const res = await this.client.submitEnvelope(envelope, taskId);
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

  /** Submits up to MAX_BULK tasks with bounded concurrency; each item gets its own result. */
  async submitBulk(tenant: string, items: readonly unknown[], concurrency = 64): Promise<BulkResult> {
    if (items.length > MAX_BULK) throw new BadRequestError([{ path: 'tasks', message: `at most ${MAX_BULK} tasks per bulk request` }]);
    const results: BulkItemResult[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        try {
          const b = submitBodySchema.safeParse(items[i]);
          if (!b.success) throw new BadRequestError(issuesOf(b.error));
          const r = await this.submit(tenant, b.data);
          results[i] = {
            index: i,
            ok: true,
            taskId: r.taskId,
            status: r.status,
            duplicate: r.duplicate,
            httpStatus: r.duplicate ? 200 : 201,
          };
        } catch (err) {
          const e = toErrorResponse(err);
          if (e.status >= 500) throw err;
          results[i] = { index: i, ok: false, httpStatus: e.status, error: prefixIssues(e.body.error, `tasks.${i}`) };
          this.onSubmit?.(tenant, 'rejected');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
    const accepted = results.filter((r) => r.ok).length;
    return { accepted, rejected: results.length - accepted, results };
  }

  /** The tenant's task summary, or TaskNotFound (also for another tenant's task). */
  async describe(tenant: string, rawId: string): Promise<TaskSummary> {
    const id = this.taskId(rawId);
    const s = await this.client.describe(id);
    if (s.tenant !== tenant) throw new TaskNotFoundError(id);
    return s;
  }

  async get(tenant: string, rawId: string): Promise<TaskState> {
    return this.client.stateOf(await this.describe(tenant, rawId));
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

  /** Runs an operator action on one of the tenant's tasks. */
  async act(tenant: string, rawId: string, action: TaskAction, opts: { lane?: 'high' | 'normal' | 'low' } = {}): Promise<void> {
    const s = await this.describe(tenant, rawId);
    if (action === 'cancel') return this.client.cancel(s.taskId);
    if (action === 'redrive') return this.client.redrive(s.taskId, opts);
    return this.client[action](s.taskId);
  }

  // The route checked it already; the CLI's direct mode passes what the operator typed.
  private taskId(raw: string): string {
    const r = taskIdParam.safeParse(raw);
    if (!r.success) throw new BadRequestError(issuesOf(r.error, 'id'));
    return r.data;
  }
}

function prefixIssues(e: { type: string; message: string; details?: unknown }, prefix: string) {
  const d = e.details as { issues?: { path: string; message: string }[] } | undefined;
  if (!d?.issues) return e;
  return { ...e, details: { ...d, issues: d.issues.map((i) => ({ path: i.path ? `${prefix}.${i.path}` : prefix, message: i.message })) } };
}
