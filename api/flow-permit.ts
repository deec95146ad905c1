import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  FLOW_LIMITER_WORKFLOW,
  acquirePermitSignal,
  acquirePermitUpdate,
  releasePermitSignal,
  type FlowKind,
  type FlowLimiterInput,
  type PermitReply,
  type PermitRequest,
} from '../config/flow';
import { flowTaskQueue } from '../config/names';

/** A request for a permit of the (kind, type, key) limiter `limiterId`. */
export interface FlowPermitCall {
  limiterId: string;
  kind: FlowKind;
  type: string;
  key: string;
  request: PermitRequest;
}

/**
 * Updates one process keeps open on one limiter at most. The server refuses more than
 * `history.maxInFlightUpdates` (10) in flight per workflow, and the client retries a refusal with a
 * long backoff; past this many, a request goes by signal instead (answered by signal, never lost).
 */
const MAX_UPDATES_PER_LIMITER = 4;
/** How long the update may take before the request goes by signal instead (it normally takes milliseconds). */
const UPDATE_DEADLINE_MS = 5_000;

const openUpdates = new Map<string, number>();

function limiterStart(call: FlowPermitCall): FlowLimiterInput {
  return {
    kind: call.kind,
    type: call.type,
    key: call.key,
    limit: call.request.limit,
    ...(call.request.perMs !== undefined ? { perMs: call.request.perMs } : {}),
  };
}

/**
 * Asks a limiter for a permit by update-with-start (it starts on the flow queue of `app` if none
 * runs) and returns its answer, or `undefined` when the update could not be used: this process
 * already has MAX_UPDATES_PER_LIMITER open on that limiter, or the update failed (the limiter was
 * continuing as new, the server refused it, the deadline passed). The caller then asks by signal
 * (`signalFlowPermit`) or leaves the asking to the task. A request sent twice is answered alike
 * (same holder and seq; the update ID is both), so a retry never takes two permits.
 */
export async function updateFlowPermit(
  client: Client,
  app: string | undefined,
  call: FlowPermitCall,
  onError?: (err: unknown) => void,
): Promise<PermitReply | undefined> {
  const open = openUpdates.get(call.limiterId) ?? 0;
  if (open >= MAX_UPDATES_PER_LIMITER) return undefined;
  openUpdates.set(call.limiterId, open + 1);
  try {
    // A deadline, so a refusal the client would retry with backoff (another process's updates
    // filled the server's cap) soon gives up instead of stalling the caller.
    return await client.connection.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
      client.workflow.executeUpdateWithStart(acquirePermitUpdate, {
        args: [call.request],
        // The ID dedupes a retried call; a request at submit and the task's own are different requests.
        updateId: `${call.request.holder}#${call.request.seq}${call.request.atSubmit ? '@submit' : ''}`,
        startWorkflowOperation: new WithStartWorkflowOperation(FLOW_LIMITER_WORKFLOW, {
          workflowId: call.limiterId,
          taskQueue: flowTaskQueue(app),
          args: [limiterStart(call)],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      }),
    );
  } catch (err) {
    onError?.(err);
    return undefined;
  } finally {
    const left = (openUpdates.get(call.limiterId) ?? 1) - 1;
    if (left > 0) openUpdates.set(call.limiterId, left);
    else openUpdates.delete(call.limiterId);
  }
}

/** Asks a limiter for a permit by signal-with-start: the limiter answers the holder by signal. */
export async function signalFlowPermit(client: Client, app: string | undefined, call: FlowPermitCall): Promise<void> {
  await client.workflow.signalWithStart(FLOW_LIMITER_WORKFLOW, {
    workflowId: call.limiterId,
    taskQueue: flowTaskQueue(app),
    args: [limiterStart(call)],
    signal: acquirePermitSignal,
    signalArgs: [call.request],
  });
}

/** Gives a permit back (or withdraws a request); a limiter that is gone holds nothing any more. */
export async function releaseFlowPermitOf(client: Client, limiterId: string, holder: string, seq: number): Promise<void> {
  try {
    await client.workflow.getHandle(limiterId).signal(releasePermitSignal, { holder, seq });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}
