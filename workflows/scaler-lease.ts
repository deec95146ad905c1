import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { acquireLeaseUpdate, leaseStateQuery, releaseLeaseUpdate, type LeaseState } from '../config/lease';

/**
 * A lock for scalers: holds who has the lease and until when. Updates acquire, renew and release it;
 * a timer clears it when the holder stops renewing (a scaler killed with SIGKILL). Runs forever on
 * the control queue, continuing as new when the history grows.
 */
export async function scalerLease(initial?: LeaseState): Promise<never> {
  const state: LeaseState = initial ?? { holder: undefined, expiresAt: undefined, handovers: 0 };
  let changed = false;
  const live = () => state.holder !== undefined && state.expiresAt !== undefined && Date.now() < state.expiresAt;

  setHandler(leaseStateQuery, () => (live() ? state : { ...state, holder: undefined, expiresAt: undefined }));
  setHandler(
    acquireLeaseUpdate,
    ({ holder, ttlMs }) => {
      if (live() && state.holder !== holder) return { granted: false, state: { ...state } };
      if (state.holder !== holder) state.handovers += 1;
      state.holder = holder;
      state.expiresAt = Date.now() + ttlMs;
      changed = true;
      return { granted: true, state: { ...state } };
    },
    {
      validator: ({ holder, ttlMs }) => {
        if (typeof holder !== 'string' || holder.length === 0) throw new Error('holder must be a non-empty string');
        if (!Number.isFinite(ttlMs) || ttlMs < 1_000) throw new Error('ttlMs must be at least 1000');
      },
    },
  );
  setHandler(releaseLeaseUpdate, ({ holder }) => {
    if (state.holder === holder) {
      state.holder = undefined;
      state.expiresAt = undefined;
      changed = true;
    }
    return { granted: false, state: { ...state } };
  });

  for (;;) {
    changed = false;
    if (live()) {
      // The expiry timer: wakes at expiry unless a renewal (or release) comes first.
      const renewed = await condition(() => changed, Math.max(1, state.expiresAt! - Date.now()));
      if (!renewed && !live()) {
        state.holder = undefined;
        state.expiresAt = undefined;
      }
    } else {
      await condition(() => changed || workflowInfo().continueAsNewSuggested);
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2_000) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof scalerLease>(live() ? state : { ...state, holder: undefined, expiresAt: undefined });
    }
  }
}
