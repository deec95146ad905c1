import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  CHUNK_PROGRESS_MEMO,
  cancelIntakeSignal,
  initialChunkProgress,
  pendingTaskQuery,
  type ChunkProgress,
  type IntakeChunkInput,
  type IntakeItem,
  type PendingTask,
} from '../config/bulk';
import type { Catalog } from '../config/catalog-schema';
import { TidewayError, ValidationError, zodIssues } from '../config/errors';
import { bulkIdSchema, resolveEnvelope, taskIdSchema, type TaskEnvelope } from '../config/envelope';
import { BULK_INTAKE_WORKFLOW, DEFAULT_TENANT, INTAKE_CHUNK_SIZE, LANES, bulkChunkWorkflowId, type Lane } from '../config/names';
import { SA_KEYS } from '../config/search-attributes';
import type { BulkAccepted, BulkStatus } from './http/schemas';
import { toErrorResponse } from './http/errors';

/** A fresh bulk ID (the same shape whichever client makes it). */
export function newBulkId(): string {
  return `bulk-${randomUUID()}`;
}

/** Largest number of tasks one bulk may carry. */
export const MAX_BULK_TASKS = 100_000;

/**
 * When a lookup through visibility is asked again (ms after the first) before a caller-chosen task
 * ID counts as not pending: visibility records a new chunk after its start, by a second or more on
 * a loaded PostgreSQL cluster. So a true 404 of such an ID takes this long.
 */
const PENDING_VISIBILITY_RETRY_MS = [300, 1_500];

/** Encoded size a chunk's items may reach (Temporal refuses payloads over 2 MiB). */
const CHUNK_BYTES = 1024 * 1024;

/** One item of a bulk: an envelope and, optionally, its task ID. */
export type BulkItem = TaskEnvelope & { taskId?: string };

// The answers' types come from their zod schemas (the HTTP API's and OpenAPI's too).
export type { BulkAccepted, BulkStatus } from './http/schemas';
/** One rejected item: its index in the request, the HTTP status it would have had alone, and why. */
export type BulkItemError = BulkAccepted['errors'][number];

/** A bulk ID that belongs to another tenant (or to something that is not a bulk). */
export class BulkConflictError extends TidewayError {
  readonly type = 'BulkConflict';
}

export class BulkNotFoundError extends TidewayError {
  readonly type = 'BulkNotFound';
  constructor(readonly bulkId: string) {
    super(`no bulk ${bulkId}`);
  }
}

/**
 * Durable bulk intake over Temporal: validates every item, then starts one `bulkIntake` workflow per
 * chunk of up to INTAKE_CHUNK_SIZE tasks of one lane (the chunk's input is the tasks' durable record),
 * which starts the tasks at the admitted rate. Re-submitting a bulk ID with the same items accepts
 * nothing twice: chunk and task IDs are derived from it.
 */
export class BulkIntake {
  constructor(
    private readonly client: Client,
    private readonly catalog: Catalog,
  ) {}

  async submit(items: readonly BulkItem[], opts: { bulkId?: string; tenant?: string } = {}): Promise<BulkAccepted> {
    return (await this.accept(items, opts)).answer;
  }

  /** `submit`, plus how many tasks it accepted per pool queue (what the API's backpressure counts). */
  async accept(
    items: readonly BulkItem[],
    opts: { bulkId?: string; tenant?: string } = {},
  ): Promise<{ answer: BulkAccepted; perQueue: Map<string, number> }> {
    const bulkId = opts.bulkId ?? newBulkId();
    const idCheck = bulkIdSchema.safeParse(bulkId);
    if (!idCheck.success) throw new ValidationError(zodIssues(idCheck.error.issues, 'bulkId'));
    if (items.length === 0) throw new ValidationError([{ path: 'tasks', message: 'a bulk needs at least one task' }]);
    if (items.length > MAX_BULK_TASKS) {
      throw new ValidationError([{ path: 'tasks', message: `at most ${MAX_BULK_TASKS} tasks per bulk (got ${items.length})` }]);
    }
    const tenant = opts.tenant ?? DEFAULT_TENANT;
    await this.checkOwner(bulkId, tenant);

    const taskIds: (string | null)[] = new Array(items.length).fill(null);
    const errors: BulkItemError[] = [];
    const byLane = new Map<Lane, IntakeItem[]>(LANES.map((l) => [l, []]));
    const seen = new Map<string, number>();
    const perQueue = new Map<string, number>();
    for (const [index, item] of items.entries()) {
      try {
        const { taskId: given, tenant: _ignored, ...rest } = item;
        const envelope: TaskEnvelope = { ...rest, tenant };
        const resolved = resolveEnvelope(this.catalog, envelope);
        const taskId = given ?? `${bulkId}-${index}`;
        const idCheck = taskIdSchema.safeParse(taskId);
        if (!idCheck.success) throw new ValidationError(zodIssues(idCheck.error.issues, 'taskId'));
        const earlier = seen.get(taskId);
        if (earlier !== undefined) {
          errors.push({
            index,
            httpStatus: 409,
            error: { type: 'TaskConflict', message: `taskId ${taskId} is already item ${earlier} of this bulk` },
          });
          continue;
        }
        seen.set(taskId, index);
        const { tenant: _t, lane: _l, ...itemEnvelope } = envelope;
        byLane.get(resolved.lane)!.push({ taskId, envelope: itemEnvelope });
        perQueue.set(resolved.taskQueue, (perQueue.get(resolved.taskQueue) ?? 0) + 1);
        taskIds[index] = taskId;
      } catch (err) {
        errors.push({ index, ...itemError(err) });
      }
    }

    const chunks: { lane: Lane; items: IntakeItem[] }[] = [];
    for (const [lane, laneItems] of byLane) for (const c of chunked(laneItems)) chunks.push({ lane, items: c });
    const accepted = items.length - errors.length;
    const acceptedAt = new Date().toISOString();
    await mapLimit(chunks, 8, async (c, n) => {
      const input: IntakeChunkInput = {
        bulkId,
        chunk: n,
        chunks: chunks.length,
        bulkAccepted: accepted,
        tenant,
        lane: c.lane,
        items: c.items,
        acceptedAt,
      };
      const progress = initialChunkProgress(input);
      try {
        await this.client.workflow.start(BULK_INTAKE_WORKFLOW, {
          taskQueue: this.catalog.controlQueue,
          workflowId: bulkChunkWorkflowId(bulkId, n),
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          // A chunk runs once, ever: a retried submit of the same bulk finds it and adds nothing.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          memo: { [CHUNK_PROGRESS_MEMO]: progress },
          staticSummary: `bulk ${bulkId} · chunk ${n + 1}/${chunks.length} · ${c.items.length} ${c.lane}-lane tasks · tenant ${tenant}`,
          typedSearchAttributes: new TypedSearchAttributes([
            { key: SA_KEYS.BulkId, value: bulkId },
            { key: SA_KEYS.TenantId, value: tenant },
            { key: SA_KEYS.Lane, value: c.lane },
          ]),
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    });
    return { answer: { bulkId, accepted, rejected: errors.length, taskIds, errors }, perQueue };
  }

  /** Sums the progress memos of the bulk's chunks (one visibility listing). */
  async status(bulkId: string, tenant?: string): Promise<BulkStatus> {
    const chunks = await this.chunksOf(bulkId);
    if (chunks.length === 0 || (tenant !== undefined && chunks[0]!.tenant !== tenant)) throw new BulkNotFoundError(bulkId);
    const first = chunks[0]!;
    const sum = (k: 'total' | 'started' | 'duplicate' | 'failed' | 'cancelled') => chunks.reduce((a, c) => a + c[k], 0);
    const done = chunks.filter((c) => c.state !== 'running').length;
    const expected = first.chunks;
    const accepted = first.bulkAccepted;
    const settled = sum('started') + sum('duplicate') + sum('failed') + sum('cancelled');
    const state = done < expected ? 'running' : chunks.some((c) => c.state === 'cancelled') ? 'cancelled' : 'completed';
    return {
      bulkId,
      tenant: first.tenant,
      state,
      accepted,
      started: sum('started'),
      duplicate: sum('duplicate'),
      failed: sum('failed'),
      cancelled: sum('cancelled'),
      pending: Math.max(0, accepted - settled),
      chunks: { total: expected, done },
      failures: chunks.flatMap((c) => c.failures).slice(0, 100),
      acceptedAt: first.acceptedAt,
    };
  }

  /**
   * Stops the bulk: every running chunk stops after its current slice (its tasks not started by
   * then never start), and the bulk's started, unfinished tasks are cancelled by a Temporal batch
   * operation. Answers how many chunks were told to stop.
   */
  async cancel(bulkId: string, tenant?: string): Promise<{ bulkId: string; cancelledChunks: number; batchJobId?: string }> {
    const chunks = await this.chunksOf(bulkId);
    if (chunks.length === 0 || (tenant !== undefined && chunks[0]!.tenant !== tenant)) throw new BulkNotFoundError(bulkId);
    const running = chunks.filter((c) => c.state === 'running');
    await mapLimit(running, 16, async (c) => {
      try {
        await this.client.workflow.getHandle(bulkChunkWorkflowId(bulkId, c.chunk)).signal(cancelIntakeSignal);
      } catch (err) {
        // Finished between the listing and the signal: nothing left to stop.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    });
    const jobId = `tw-bulk-cancel.${randomUUID()}`;
    try {
      await this.client.workflowService.startBatchOperation({
        namespace: this.client.options.namespace,
        jobId,
        reason: `tideway bulk ${bulkId} cancelled`,
        visibilityQuery: `WorkflowType = 'runTask' AND TaskQueue = '${this.catalog.controlQueue}' AND BulkId = '${bulkId}' AND ExecutionStatus = 'Running'`,
        cancellationOperation: { identity: `tideway/${tenant ?? DEFAULT_TENANT}` },
      });
    } catch {
      // The chunks are stopped either way; started tasks may then be cancelled one by one.
      return { bulkId, cancelledChunks: running.length };
    }
    return { bulkId, cancelledChunks: running.length, batchJobId: jobId };
  }

  /**
   * A task that a running intake holds and has not started yet, or undefined (the fallback when a
   * task ID is not found). A task ID the bulk derived (`<bulkId>-<index>`, the default) leads to
   * its chunks by workflow ID, which is read-after-write consistent. A task ID the caller chose
   * leads nowhere by itself: the running chunks are found through visibility, which lags the start
   * (milliseconds on the dev server, up to a second or more on PostgreSQL or Elasticsearch), so an
   * empty answer is asked again (PENDING_VISIBILITY_RETRY_MS) before it counts.
   */
  async findPending(taskId: string, tenant?: string): Promise<PendingTask | undefined> {
    const derived = await this.findPendingByBulkId(taskId, tenant);
    if (derived.found) return derived.found;
    // The bulk the ID names exists and does not hold it: one listing, no grace (the ID is not new).
    if (derived.bulkExists) return this.findPendingListed(taskId, tenant);
    const t0 = Date.now();
    let found = await this.findPendingListed(taskId, tenant);
    for (const at of PENDING_VISIBILITY_RETRY_MS) {
      if (found) return found;
      const wait = t0 + at - Date.now();
      if (wait > 0) await sleep(wait);
      found = await this.findPendingListed(taskId, tenant);
    }
    return found;
  }

  /**
   * Reads the chunks of the bulk a derived task ID names (`<bulkId>-<n>`): chunk 0 by its workflow
   * ID says how many chunks there are; each running one is asked.
   */
  private async findPendingByBulkId(taskId: string, tenant?: string): Promise<{ found?: PendingTask; bulkExists: boolean }> {
    const m = /^(.+)-\d+$/.exec(taskId);
    const bulkId = m?.[1];
    if (bulkId === undefined || !bulkIdSchema.safeParse(bulkId).success) return { bulkExists: false };
    const first = await this.chunkProgress(bulkId, 0);
    if (!first || (tenant !== undefined && first.tenant !== tenant)) return { bulkExists: false };
    let found: PendingTask | undefined;
    await mapLimit(
      Array.from({ length: first.chunks }, (_, n) => n),
      8,
      async (n) => {
        if (found) return;
        const id = bulkChunkWorkflowId(bulkId, n);
        try {
          // A closed chunk holds nothing; asking it would replay its whole history.
          if ((await this.client.workflow.getHandle(id).describe()).status.name !== 'RUNNING') return;
          const p = await this.client.workflow.getHandle(id).query(pendingTaskQuery, taskId);
          if (p) found = p;
        } catch {
          // Not started (a partly accepted bulk) or finished meanwhile: nothing pending there.
        }
      },
    );
    return { ...(found ? { found } : {}), bulkExists: true };
  }

  /** A chunk's progress memo by its workflow ID, or undefined when it is not one of this catalog's chunks. */
  private async chunkProgress(bulkId: string, n: number): Promise<ChunkProgress | undefined> {
    try {
      const d = await this.client.workflow.getHandle(bulkChunkWorkflowId(bulkId, n)).describe();
      if (d.type !== BULK_INTAKE_WORKFLOW || d.taskQueue !== this.catalog.controlQueue) return undefined;
      return d.memo?.[CHUNK_PROGRESS_MEMO] as ChunkProgress | undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** Asks every running chunk of the control queue (found through visibility) for the task. */
  private async findPendingListed(taskId: string, tenant?: string): Promise<PendingTask | undefined> {
    const q =
      `WorkflowType = '${BULK_INTAKE_WORKFLOW}' AND TaskQueue = '${this.catalog.controlQueue}' AND ExecutionStatus = 'Running'` +
      (tenant !== undefined ? ` AND TenantId = '${tenant.replace(/[^A-Za-z0-9_-]/g, '')}'` : '');
    const ids: string[] = [];
    for await (const w of this.client.workflow.list({ query: q })) ids.push(w.workflowId);
    let found: PendingTask | undefined;
    await mapLimit(ids, 16, async (id) => {
      if (found) return;
      try {
        const p = await this.client.workflow.getHandle(id).query(pendingTaskQuery, taskId);
        if (p) found = p;
      } catch {
        // Finished meanwhile; its tasks are started and found by their own IDs.
      }
    });
    return found;
  }

  private async chunksOf(bulkId: string): Promise<ChunkProgress[]> {
    const idCheck = bulkIdSchema.safeParse(bulkId);
    if (!idCheck.success) throw new ValidationError(zodIssues(idCheck.error.issues, 'bulkId'));
    const q = `WorkflowType = '${BULK_INTAKE_WORKFLOW}' AND TaskQueue = '${this.catalog.controlQueue}' AND BulkId = '${bulkId}'`;
    const out: ChunkProgress[] = [];
    for await (const w of this.client.workflow.list({ query: q })) {
      const p = w.memo?.[CHUNK_PROGRESS_MEMO] as ChunkProgress | undefined;
      if (p) out.push(p);
    }
    return out.sort((a, b) => a.chunk - b.chunk);
  }

  private async checkOwner(bulkId: string, tenant: string): Promise<void> {
    try {
      const d = await this.client.workflow.getHandle(bulkChunkWorkflowId(bulkId, 0)).describe();
      const owner = d.typedSearchAttributes.get(SA_KEYS.TenantId);
      if (d.type !== BULK_INTAKE_WORKFLOW || d.taskQueue !== this.catalog.controlQueue || owner !== tenant) {
        throw new BulkConflictError(`bulkId ${bulkId} is not available; choose another`);
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
}

/** An item's error as the API would answer it alone (the one mapping, api/http/errors.ts); anything else is ours to throw. */
function itemError(err: unknown): Omit<BulkItemError, 'index'> {
  const e = toErrorResponse(err);
  if (e.status >= 500) throw err;
  return { httpStatus: e.status, error: e.body.error };
}

/** Splits into chunks of at most INTAKE_CHUNK_SIZE items and CHUNK_BYTES encoded. */
function chunked(items: readonly IntakeItem[]): IntakeItem[][] {
  const out: IntakeItem[][] = [];
  let cur: IntakeItem[] = [];
  let bytes = 0;
  for (const it of items) {
    const size = Buffer.byteLength(JSON.stringify(it));
    if (cur.length > 0 && (cur.length >= INTAKE_CHUNK_SIZE || bytes + size > CHUNK_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
