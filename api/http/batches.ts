import { randomUUID } from 'node:crypto';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { pauseSignal, redriveSignal, resumeSignal } from '../../config/messages';
import { visibilityQuery } from '../../config/visibility';
import { NotFoundError, TooManyRequestsError } from './errors';
import type { BatchBody, BatchStatus } from './schemas';
import { batchBodySchema } from './schemas';

/**
 * Bulk operations by filter, run by Temporal's batcher (`startBatchOperation`): operator signals
 * for pause/resume/redrive (they are signals so the batcher can send them), cancellation for cancel.
 * Batch IDs carry the tenant, so a tenant can only see its own batches.
 */

const PREFIX = 'tw-batch.';
const GRPC_NOT_FOUND = 5;
const GRPC_RESOURCE_EXHAUSTED = 8;
const STATE = temporal.api.enums.v1.BatchOperationState;

/** The Temporal batch job ID of a new batch for `tenant`. */
export function newBatchId(tenant: string): string {
  return `${PREFIX}${tenant}.${randomUUID()}`;
}

/** Starts a batch over the tenant's running tasks of the app on `controlQueue` matching the filter. */
export async function startBatch(
  client: Client,
  tenant: string,
  body: BatchBody,
  controlQueue: string,
): Promise<{ batchId: string; operation: BatchBody['operation']; query: string }> {
  const b = batchBodySchema.parse(body);
  // Only open executions can be signalled or cancelled; the tenant and app clauses are added here,
  // never by the caller, so a batch never reaches another tenant's or another app's tasks.
  const query = visibilityQuery({ ...b.filter, tenant }, { controlQueue, running: true });
  const batchId = newBatchId(tenant);
  const identity = `tideway-api/${tenant}`;
  const reason = b.reason ?? `tideway ${b.operation} by ${tenant}`;
  const op =
    b.operation === 'cancel'
      ? { cancellationOperation: { identity } }
      : { signalOperation: { signal: SIGNAL[b.operation].name, identity } };
  try {
    await client.workflowService.startBatchOperation({
      namespace: client.options.namespace,
      jobId: batchId,
      reason,
      visibilityQuery: query,
      ...op,
    });
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === GRPC_RESOURCE_EXHAUSTED) {
      throw new TooManyRequestsError('another batch operation is running in this namespace; try again shortly', 5, 'batch_limit');
    }
    throw err;
  }
  return { batchId, operation: b.operation, query };
}

/** The operator signal each batch operation sends (the batcher sends it without arguments). */
const SIGNAL = { pause: pauseSignal, resume: resumeSignal, redrive: redriveSignal } as const;

/** Progress of one of the tenant's batches; another tenant's (or an unknown) ID is NotFound. */
export async function describeBatch(client: Client, tenant: string, batchId: string): Promise<BatchStatus> {
  if (!batchId.startsWith(`${PREFIX}${tenant}.`)) throw new NotFoundError(`no batch ${JSON.stringify(batchId)}`);
  try {
    const r = await client.workflowService.describeBatchOperation({ namespace: client.options.namespace, jobId: batchId });
    const state =
      r.state === STATE.BATCH_OPERATION_STATE_RUNNING
        ? 'running'
        : r.state === STATE.BATCH_OPERATION_STATE_COMPLETED
          ? 'completed'
          : r.state === STATE.BATCH_OPERATION_STATE_FAILED
            ? 'failed'
            : 'unknown';
    const n = (v: unknown) => (v === null || v === undefined ? 0 : Number(String(v)));
    const op = temporal.api.enums.v1.BatchOperationType[r.operationType ?? 0] ?? 'UNKNOWN';
    const start = optionalTsToDate(r.startTime);
    const close = optionalTsToDate(r.closeTime);
    return {
      batchId,
      operation: op.replace('BATCH_OPERATION_TYPE_', '').toLowerCase(),
      state,
      total: n(r.totalOperationCount),
      completed: n(r.completeOperationCount),
      failed: n(r.failureOperationCount),
      ...(start ? { startTime: start.toISOString() } : {}),
      ...(close && close.getTime() > 0 ? { closeTime: close.toISOString() } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    };
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) throw new NotFoundError(`no batch ${JSON.stringify(batchId)}`);
    throw err;
  }
}
