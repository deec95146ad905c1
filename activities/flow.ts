import { Context } from '@temporalio/activity';
import type { Catalog } from '../config/catalog-schema';
import { FLOW_LIMITER_WORKFLOW, acquirePermitSignal, type FlowKind, type PermitRequest } from '../config/flow';

/** What `runTask` passes to ask a limiter for a permit. */
export interface FlowPermitCall {
  limiterId: string;
  kind: FlowKind;
  type: string;
  key: string;
  request: PermitRequest;
}

/**
 * The control worker's flow activities (local: no extra queue hop). A workflow cannot call
 * signal-with-start itself, so this one does it for `runTask`: it starts the (kind, type, key)
 * limiter on the control queue if none runs and hands it the request in the same call; the
 * limiter answers the task by signal. (Not update-with-start: a burst of one key's tasks passes
 * the server's limit of in-flight updates per workflow, `history.maxInFlightUpdates`, 10.)
 */
export function createFlowActivities(catalog: Catalog) {
  return {
    async requestFlowPermit(call: FlowPermitCall): Promise<void> {
      const client = Context.current().client;
      await client.workflow.signalWithStart(FLOW_LIMITER_WORKFLOW, {
        workflowId: call.limiterId,
        taskQueue: catalog.controlQueue,
        args: [
          {
            kind: call.kind,
            type: call.type,
            key: call.key,
            limit: call.request.limit,
            ...(call.request.perMs !== undefined ? { perMs: call.request.perMs } : {}),
          },
        ],
        signal: acquirePermitSignal,
        signalArgs: [call.request],
      });
    },
  };
}

export type FlowActivities = ReturnType<typeof createFlowActivities>;
