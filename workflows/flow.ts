import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
// Types only: the activity runs update-with-start on the control worker.
import type { FlowActivities } from '../activities/flow';
import {
  FLOW_LAZY_RELEASE_PATCH,
  FLOW_RELEASE_PATCH,
  START_GRACE_MS,
  flowLimiterId,
  permitAnswerSignal,
  reclaimPermitSignal,
  releasePermitSignal,
  waitReason,
  type FlowKind,
  type PermitReply,
  type RateMode,
  type SubmitPermit,
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
  /** The limiter asked for it back as soon as the schedule ends (others wait, or soon may). */
  releaseAtEnd?: boolean;
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
  /** The answer TaskClient got for this task at submit (used once, by the first request of its limiter). */
  atSubmit?: SubmitPermit;
}

/**
 * A task's side of flow control: asks the (kind, type, key) limiter for a permit (unless TaskClient
 * did at submit), waits for its grant signal while `state.flow.waiting` says why, and gives
 * permits back (or, completing, leaves an uncontended one for the limiter to take back). Every give-up path
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

  // Lazy release. `holding`: permits whose schedule runs now; `owed`: of those, the ones the
  // limiter asked back under contention (given back as soon as the schedule ends); `kept`: permits
  // whose schedule ended without giving them back because the task was about to complete.
  const holding = new Set<string>();
  const owed = new Set<string>();
  const kept = new Map<string, Permit>();
  const tokenOf = (p: Permit): string => `${p.limiterId}#${p.seq}`;

  const giveBack = async (permit: Permit): Promise<void> => {
    const token = tokenOf(permit);
    holding.delete(token);
    owed.delete(token);
    kept.delete(token);
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

  setHandler(reclaimPermitSignal, async ({ limiterId, seq: s, contended }) => {
    const token = `${limiterId}#${s}`;
    const permit = kept.get(token);
    // Still alive after its schedule ended (a callback, a parent's signal): give it back now.
    if (permit) await giveBack(permit);
    else if (contended && holding.has(token)) owed.add(token);
  });

  /**
   * Gives a permit back when its schedule ended. `completing`: the task completes right after (it
   * succeeded), so a permit granted without contention and not asked back since is left for the
   * limiter to take back from the closed task: no round trip. Behind a patch: histories recorded
   * before give every permit back.
   */
  const release = async (permit: Permit, opts: { completing?: boolean } = {}): Promise<void> => {
    const token = tokenOf(permit);
    if (opts.completing && !permit.releaseAtEnd && !owed.has(token) && patched(FLOW_LAZY_RELEASE_PATCH)) {
      holding.delete(token);
      kept.set(token, permit);
      return;
    }
    await giveBack(permit);
  };

  const granted = (permit: Permit, reply: PermitReply): AcquireOutcome => {
    const p = reply.outcome === 'granted' && reply.releaseAtEnd ? { ...permit, releaseAtEnd: true } : permit;
    holding.add(tokenOf(p));
    return { kind: 'granted', permit: p };
  };

  const acquire = async (o: AcquireOptions): Promise<AcquireOutcome> => {
    const limiterId = flowLimiterId(o.kind, o.type, o.key, app);
    // TaskClient asked for this permit at submit: its answer stands (a queued one is asked again
    // with the same seq, which the limiter answers as it stands now). Used by the first request only.
    // A grant made long before this run started is asked again (same seq): the limiter may have
    // taken it back meanwhile (config/flow.ts START_GRACE_MS).
    const pre = o.atSubmit && o.atSubmit.limiterId === limiterId && o.atSubmit.seq > seq ? o.atSubmit : undefined;
    seq = pre ? pre.seq : seq + 1;
    const permit: Permit = { limiterId, seq };
    const token = tokenOf(permit);
    const r = pre?.reply;
    if (r?.outcome === 'granted' && r.at !== undefined && workflowInfo().runStartTime.getTime() - r.at < START_GRACE_MS / 2)
      return granted(permit, r);
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
      if (reply?.outcome === 'granted') return granted(permit, reply);
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
      if (grantedNow()) return granted(permit, answers.get(token)!);
      await giveBack(permit);
      return ok ? { kind: 'aborted' } : { kind: 'timeout' };
    } catch (err) {
      await giveBack(permit); // cancelled while asking or waiting: withdraw
      throw err;
    } finally {
      answers.delete(token);
      if (state.flow?.waiting) {
        const { waiting: _w, ...rest } = state.flow;
        state.flow = rest;
      }
    }
  };

  return { acquire, release };
}
