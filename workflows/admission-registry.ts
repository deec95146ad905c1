import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  admissionCheckInUpdate,
  admissionLeaveUpdate,
  admissionRegistryQuery,
  type CheckInAnswer,
  type RegistryState,
} from '../config/messages';

/** History length past which the registry continues as new (each check-in adds about five events). */
const MAX_HISTORY = 1_000;

/**
 * Who shares a fixed lane admission budget: processes check in by update (update-with-start, so
 * whichever comes first starts it) every third of their TTL and leave by update when they go idle
 * or stop. A member that stops checking in (a process killed) no longer counts once its TTL is
 * past: expiry is decided at each check-in from workflow time, so the registry needs no timers.
 * Runs forever on the control queue, continuing as new when its history grows.
 */
export async function admissionRegistry(initial?: RegistryState): Promise<never> {
  const members = new Map<string, { budget: string; expiresAt: number }>(
    (initial?.members ?? []).map((m) => [m.member, { budget: m.budget, expiresAt: m.expiresAt }]),
  );
  const prune = (now: number) => {
    for (const [id, m] of members) if (m.expiresAt <= now) members.delete(id);
  };
  const answer = (budget: string): CheckInAnswer => {
    const now = Date.now();
    prune(now);
    let count = 0;
    let next: number | undefined;
    for (const m of members.values()) {
      if (m.budget !== budget) continue;
      count += 1;
      next = next === undefined ? m.expiresAt : Math.min(next, m.expiresAt);
    }
    return { members: count, nextExpiryInMs: next === undefined ? undefined : Math.max(0, next - now) };
  };
  const state = (): RegistryState => {
    const now = Date.now();
    return {
      members: [...members]
        .filter(([, m]) => m.expiresAt > now)
        .map(([member, m]) => ({ member, budget: m.budget, expiresAt: m.expiresAt })),
    };
  };

  setHandler(admissionRegistryQuery, state);
  setHandler(
    admissionCheckInUpdate,
    ({ member, budget, ttlMs }) => {
      members.set(member, { budget, expiresAt: Date.now() + ttlMs });
      return answer(budget);
    },
    {
      validator: ({ member, budget, ttlMs }) => {
        if (typeof member !== 'string' || member.length === 0) throw new Error('member must be a non-empty string');
        if (typeof budget !== 'string' || budget.length === 0) throw new Error('budget must be a non-empty string');
        if (!Number.isFinite(ttlMs) || ttlMs < 1_000) throw new Error('ttlMs must be at least 1000');
      },
    },
  );
  setHandler(admissionLeaveUpdate, ({ member, budget }) => {
    members.delete(member);
    return answer(budget);
  });

  await condition(() => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY);
  await condition(allHandlersFinished);
  return continueAsNew<typeof admissionRegistry>(state());
}
