import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from '@temporalio/common';
import type { Catalog } from '../config/catalog-schema';
import {
  FLOW_LIMITER_WORKFLOW,
  acquirePermitSignal,
  acquirePermitUpdate,
  releasePermitSignal,
  type FlowKind,
  type FlowLimiterInput,
  type PermitRelease,
  type PermitReply,
  type PermitRequest,
} from '../config/flow';
import { flowTaskQueue } from '../config/names';

/** What `runTask` passes to ask a limiter for a permit. */
export interface FlowPermitCall {
  limiterId: string;
  kind: FlowKind;
  type: string;
  key: string;
  request: PermitRequest;
}

/** What `runTask` passes to give a permit back (or withdraw a request). */
export interface FlowReleaseCall extends PermitRelease {
  limiterId: string;
}

/**
 * Updates this process keeps open on one limiter at most. The server refuses more than
 * `history.maxInFlightUpdates` (10) in flight per workflow, and the client retries a refusal with a
 * long backoff; past this many, a request goes by signal instead (answered by signal, never lost).
 */
const MAX_UPDATES_PER_LIMITER = 4;
/** How long the update may take before the request goes by signal instead (it normally takes milliseconds). */
const UPDATE_DEADLINE_MS = 5_000;

/** Updates open per limiter in this process (shared by the control worker's and a pool's activities). */
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
 * The start half of an update-with-start on a limiter: started on the app's flow queue if none runs,
 * joined if one does. The ask (`askLimiter`) and the lease renewal (`PermitLeases`) share it, so a
 * limiter is started the same way whoever reaches it first.
 */
export function startLimiter(app: string | undefined, limiterId: string, input: FlowLimiterInput) {
  return new WithStartWorkflowOperation(FLOW_LIMITER_WORKFLOW, {
    workflowId: limiterId,
    taskQueue: flowTaskQueue(app),
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/**
 * Sends a permit request as an update-with-start to the (kind, type, key) limiter (started on the
 * flow queue if none runs): the limiter answers in the same call. When the update cannot be used
 * (this process already has MAX_UPDATES_PER_LIMITER open on that limiter, or the update failed: the
 * limiter was closing, the server refused it), the same request goes by signal-with-start and the
 * answer comes to the holder by signal; it returns `undefined` then. A request sent twice is
 * answered alike (same holder and seq), so the fallback never takes two permits.
 */
export async function askLimiter(
  client: Client,
  app: string | undefined,
  call: FlowPermitCall,
  log: Logger,
): Promise<PermitReply | undefined> {
  const open = openUpdates.get(call.limiterId) ?? 0;
  if (open < MAX_UPDATES_PER_LIMITER) {
    openUpdates.set(call.limiterId, open + 1);
    try {
      // A deadline, so a refusal the client would retry with backoff (another process's updates
      // filled the server's cap) soon falls back to the signal instead of stalling the task.
      return await client.connection.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
        client.workflow.executeUpdateWithStart(acquirePermitUpdate, {
          args: [call.request],
          updateId: `${call.request.holder}#${call.request.seq}`,
          startWorkflowOperation: startLimiter(app, call.limiterId, limiterStart(call)),
        }),
      );
    } catch (err) {
      log.info('permit update not used; asking by signal', { limiterId: call.limiterId, error: String(err) });
    } finally {
      const left = (openUpdates.get(call.limiterId) ?? 1) - 1;
      if (left > 0) openUpdates.set(call.limiterId, left);
      else openUpdates.delete(call.limiterId);
    }
  }
  await client.workflow.signalWithStart(FLOW_LIMITER_WORKFLOW, {
    workflowId: call.limiterId,
    taskQueue: flowTaskQueue(app),
    args: [limiterStart(call)],
    signal: acquirePermitSignal,
    signalArgs: [call.request],
  });
  return undefined;
}

/** Gives a permit back (or withdraws a request). A limiter that is gone holds nothing any more. */
export async function releaseAtLimiter(client: Client, call: FlowReleaseCall): Promise<void> {
  try {
    await client.workflow.getHandle(call.limiterId).signal(releasePermitSignal, { holder: call.holder, seq: call.seq });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/**
 * The control worker's flow activities (local: no extra queue hop). A workflow can neither update
 * nor signal-with-start another workflow, so these do it for `runTask` (see `askLimiter`).
 */
export function createFlowActivities(catalog: Catalog) {
  return {
    async requestFlowPermit(call: FlowPermitCall): Promise<PermitReply | undefined> {
      const ctx = Context.current();
      return askLimiter(ctx.client, catalog.app, call, ctx.log);
    },

    async releaseFlowPermit(call: FlowReleaseCall): Promise<void> {
      await releaseAtLimiter(Context.current().client, call);
    },
  };
}

export type FlowActivities = ReturnType<typeof createFlowActivities>;
