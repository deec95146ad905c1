import { MESSAGES, TERMINAL_STATUSES, type Lane } from '../../config/names';
import { TaskConflictError } from '../errors';
import type { TaskClient } from '../task-client';

/**
 * The operator actions (pause, resume, redrive, discard) the HTTP API and CLI need from TaskClient.
 * TaskClient gains them in the lead's issue 3; until it has them, a fallback here sends the same
 * signals with the obvious state checks, so the routes work against today's workflow too.
 */
export interface OperatorMethods {
  pause(taskId: string): Promise<void>;
  resume(taskId: string): Promise<void>;
  redrive(taskId: string, opts?: { lane?: Lane }): Promise<void>;
  discard(taskId: string): Promise<void>;
}

/** Statuses from which each action makes sense (fallback checks only). */
const ALLOWED: Record<keyof OperatorMethods, (status: string | undefined) => boolean> = {
  pause: (s) => s !== 'paused' && s !== 'dead_lettered' && !TERMINAL_STATUSES.includes(s as never),
  resume: (s) => s === 'paused',
  redrive: (s) => s === 'dead_lettered',
  discard: (s) => s === 'dead_lettered',
};

const SIGNALS: Record<keyof OperatorMethods, string> = {
  pause: MESSAGES.pauseSignal,
  resume: MESSAGES.resumeSignal,
  redrive: MESSAGES.redriveSignal,
  discard: MESSAGES.discardSignal,
};

/** TaskClient's own operator methods when it has them, else the signal-sending fallback. */
export function operatorFor(client: TaskClient): OperatorMethods {
  const own = client as unknown as Partial<OperatorMethods>;
  const pick = <K extends keyof OperatorMethods>(k: K): OperatorMethods[K] =>
    typeof own[k] === 'function' ? (own[k] as OperatorMethods[K]).bind(client) : (fallback(client, k) as OperatorMethods[K]);
  return { pause: pick('pause'), resume: pick('resume'), redrive: pick('redrive'), discard: pick('discard') };
}

function fallback(client: TaskClient, action: keyof OperatorMethods) {
  return async (taskId: string, opts?: { lane?: Lane }): Promise<void> => {
    const s = await client.describe(taskId);
    if (s.executionStatus !== 'RUNNING' || !ALLOWED[action](s.status)) {
      const now = s.status ?? s.executionStatus;
      throw new TaskConflictError(taskId, now, `task ${taskId} is ${now}; cannot ${action} it`);
    }
    const args = action === 'redrive' && opts?.lane ? [{ lane: opts.lane }] : [];
    await client.handle(taskId).signal(SIGNALS[action], ...args);
  };
}
