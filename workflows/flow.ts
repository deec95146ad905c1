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
/** What `awaitGrant` needs: the request it waits on, and the acquire options it was sent with. */
export interface WaitOptions extends Pick<AcquireOptions, 'kind' | 'key' | 'perMs' | 'timeoutMs' | 'abort'> {
  limiterId: string;
  seq: number;
  /** The answer that came back in the call, if it did. */
  direct?: PermitReply;
  /** When the request was sent (the TTL counts from then). */
  askedAt?: number;
}

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

  /**
   * Waits for the answer to request `seq` (sent by `acquire`, or by `executeTask` for a permit taken
   * in the attempt), then for its grant while `state.flow.waiting` says why. Gives up at the TTL or
   * a pause, and withdraws the request on every give-up path (also a cancel).
   */
  const awaitGrant = async (o: WaitOptions): Promise<AcquireOutcome> => {
    const { limiterId, seq: s } = o;
    const permit = { limiterId, seq: s };
    const token = `${limiterId}#${s}`;
    const askedAt = o.askedAt ?? Date.now();
    try {
      // Answered in the call (the update path): the same as the first signal answer would be. A
      // grant by signal that came first is never overwritten.
      if (o.direct && answers.get(token)?.outcome !== 'granted') answers.set(token, o.direct);
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
      await release(permit); // cancelled while waiting: withdraw
      throw err;
    } finally {
      answers.delete(token);
      if (state.flow?.waiting) {
        const { waiting: _w, ...rest } = state.flow;
        state.flow = rest;
      }
    }
  };

  const acquire = async (o: AcquireOptions): Promise<AcquireOutcome> => {
    const limiterId = flowLimiterId(o.kind, o.type, o.key, app);
    seq += 1;
    const askedAt = Date.now();
    let direct: PermitReply | undefined;
    try {
      direct = await requestFlowPermit({
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
    } catch (err) {
      await release({ limiterId, seq }); // cancelled while asking: withdraw
      throw err;
    }
    return awaitGrant({ ...o, limiterId, seq, askedAt, ...(direct ? { direct } : {}) });
  };

  /** A new schedule number for a permit taken in the attempt (its seqs stay above every earlier one). */
  const nextSchedule = (): number => {
    seq += 1;
    return seq;
  };

  return { acquire, awaitGrant, release, nextSchedule };
}
