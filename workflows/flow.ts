import { CancellationScope, condition, getExternalWorkflowHandle, patched, proxyLocalActivities, setHandler } from '@temporalio/workflow';
// Types only: the activity runs update-with-start on the control worker.
import type { FlowActivities } from '../activities/flow';
import {
  FLOW_RELEASE_PATCH,
  flowLimiterId,
  permitAnswerSignal,
  releasePermitSignal,
  waitReason,
  type FlowKind,
  type PermitReply,
  type RateMode,
} from '../config/flow';
import type { TaskState } from '../config/task-state';

const { requestFlowPermit, releaseFlowPermit } = proxyLocalActivities<FlowActivities>({
  startToCloseTimeout: '30s',
  // The limiter answers a repeated request the same way (same holder and seq), so retrying is safe.
  // The answer comes back in the call (update), or by signal when it went by signal-with-start.
  // A release sent twice is harmless (the limiter drops a permit once).
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
});

/** A permit a task holds (concurrency) or took (rate). */
export interface Permit {
  limiterId: string;
  seq: number;
}

export type AcquireOutcome =
  { kind: 'granted'; permit: Permit } | { kind: 'dropped'; reply: PermitReply } | { kind: 'timeout' } | { kind: 'aborted' };

export interface AcquireOptions {
  kind: FlowKind;
  type: string;
  key: string;
  limit: number;
  perMs?: number;
  mode?: RateMode;
  priority: number;
  /** Give up waiting after this long (the TTL left), withdrawing the request. */
  timeoutMs?: number;
  /** Stop waiting when this turns true (a pause), withdrawing the request. */
  abort: () => boolean;
}

/**
 * A task's side of flow control: asks the (kind, type, key) limiter for a permit, waits for its
 * grant signal while `state.flow.waiting` says why, and gives permits back. Every give-up path
 * (timeout, pause, cancel) withdraws the request, so a limiter never grants to a task that left.
 */
export function flowPermits(taskId: string, app: string | undefined, state: TaskState) {
  // The latest answer per request; a grant is never overwritten (signals may arrive out of order).
  const answers = new Map<string, PermitReply>();
  let seq = 0;
  setHandler(permitAnswerSignal, ({ limiterId, seq: s, ...reply }) => {
    const token = `${limiterId}#${s}`;
    if (answers.get(token)?.outcome !== 'granted') answers.set(token, reply);
  });

  const release = async (permit: Permit): Promise<void> => {
    // Also on a cancelled task: the permit must go back whatever ended the task.
    await CancellationScope.nonCancellable(
      () =>
        // A local activity lets the workflow task go on at once; a signal-external command costs the
        // task a workflow task more (its delivery). Histories recorded before replay the signal.
        patched(FLOW_RELEASE_PATCH)
          ? releaseFlowPermit({ limiterId: permit.limiterId, holder: taskId, seq: permit.seq })
          : getExternalWorkflowHandle(permit.limiterId)
              .signal(releasePermitSignal, { holder: taskId, seq: permit.seq })
              .catch(() => undefined), // the limiter is gone: nothing is held there any more
    );
  };

  const acquire = async (o: AcquireOptions): Promise<AcquireOutcome> => {
    const limiterId = flowLimiterId(o.kind, o.type, o.key, app);
    seq += 1;
    const permit = { limiterId, seq };
    const askedAt = Date.now();
    try {
      const direct = await requestFlowPermit({
        limiterId,
        kind: o.kind,
        type: o.type,
        key: o.key,
        request: {
          holder: taskId,
          seq,
          priority: o.priority,
          limit: o.limit,
          ...(o.perMs !== undefined ? { perMs: o.perMs } : {}),
          ...(o.mode !== undefined ? { mode: o.mode } : {}),
        },
      });
      const token = `${limiterId}#${seq}`;
      // Answered in the call (the update path): the same as the first signal answer would be. A
      // grant by signal that came first is never overwritten.
      if (direct && answers.get(token)?.outcome !== 'granted') answers.set(token, direct);
      const grantedNow = () => answers.get(token)?.outcome === 'granted';
      const first = answers.has(token)
        ? true
        : o.timeoutMs === undefined
          ? (await condition(() => answers.has(token) || o.abort()), true)
          : await condition(() => answers.has(token) || o.abort(), Math.max(1, o.timeoutMs));
      const reply = answers.get(token);
      if (reply?.outcome === 'granted') return { kind: 'granted', permit };
      if (reply?.outcome === 'dropped') return { kind: 'dropped', reply };
      if (reply?.outcome === 'queued') {
        state.flow = {
          ...state.flow,
          waiting: {
            kind: o.kind,
            key: o.key,
            limiter: limiterId,
            since: new Date(Date.now()).toISOString(),
            running: reply.running,
            limit: reply.limit,
            position: reply.position,
            reason: waitReason(o.kind, o.key, reply.running, reply.limit, o.perMs),
          },
        };
      }
      const left = o.timeoutMs === undefined ? undefined : o.timeoutMs - (Date.now() - askedAt);
      const ok = !first
        ? false
        : left === undefined
          ? (await condition(() => grantedNow() || o.abort()), true)
          : await condition(() => grantedNow() || o.abort(), Math.max(1, left));
      if (grantedNow()) return { kind: 'granted', permit };
      await release(permit);
      return ok ? { kind: 'aborted' } : { kind: 'timeout' };
    } catch (err) {
      await release(permit); // cancelled while asking or waiting: withdraw
      throw err;
    } finally {
      answers.delete(`${limiterId}#${seq}`);
      if (state.flow?.waiting) {
        const { waiting: _w, ...rest } = state.flow;
        state.flow = rest;
      }
    }
  };

  return { acquire, release };
}
