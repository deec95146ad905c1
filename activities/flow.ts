import { Context } from '@temporalio/activity';
import type { Catalog } from '../config/catalog-schema';
import type { PermitRelease, PermitReply } from '../config/flow';
import { releaseFlowPermitOf, signalFlowPermit, updateFlowPermit, type FlowPermitCall } from '../api/flow-permit';

export type { FlowPermitCall } from '../api/flow-permit';

/** What `runTask` passes to give a permit back (or withdraw a request). */
export interface FlowReleaseCall extends PermitRelease {
  limiterId: string;
}

/**
 * The control worker's flow activities (local: no extra queue hop). A workflow can neither update
 * nor signal-with-start another workflow, so these do it for `runTask` (api/flow-permit.ts).
 *
 * `requestFlowPermit` sends the request as an update-with-start to the (kind, type, key) limiter:
 * the limiter answers in the same call, so a task whose permit is free goes on in the same workflow
 * task. When the update cannot be used, the same request goes by signal-with-start and the answer
 * comes by signal; it returns `undefined` then.
 */
export function createFlowActivities(catalog: Catalog) {
  return {
    async requestFlowPermit(call: FlowPermitCall): Promise<PermitReply | undefined> {
      const client = Context.current().client;
      const reply = await updateFlowPermit(client, catalog.app, call, (err) =>
        Context.current().log.info('permit update not used; asking by signal', { limiterId: call.limiterId, error: String(err) }),
      );
      if (reply) return reply;
      await signalFlowPermit(client, catalog.app, call);
      return undefined;
    },

    async releaseFlowPermit(call: FlowReleaseCall): Promise<void> {
      await releaseFlowPermitOf(Context.current().client, call.limiterId, call.holder, call.seq);
    },
  };
}

export type FlowActivities = ReturnType<typeof createFlowActivities>;
