import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, type SearchAttributeUpdatePair } from '@temporalio/common';
// Types only: workflow code must never load the catalog or handlers (they pull in Node).
import type { AttemptFailed, AttemptStarted, ControlActivities, PoolActivities } from '../activities/execute';
import type { ResolvedTask, TaskEnvelope } from '../config/envelope';
import { DEFAULT_TENANT, MESSAGES, type Lane, type TaskStatus } from '../config/names';

/** What query `state` returns: the public shape from the design brief. */
export interface TaskState {
  taskId: string;
  type: string;
  status: TaskStatus;
  attempts: number;
  lane: Lane | null;
  group: string | null;
  tenant: string;
  lastError?: { type: string; class: string; message: string; attempt: number };
  result?: unknown;
  timestamps: {
    submittedAt: string;
    startedAt?: string;
    finishedAt?: string;
  };
}

export const stateQuery = defineQuery<TaskState>(MESSAGES.stateQuery);
export const attemptStartedSignal = defineSignal<[AttemptStarted]>(MESSAGES.attemptStartedSignal);
export const attemptFailedSignal = defineSignal<[AttemptFailed]>(MESSAGES.attemptFailedSignal);

const SA = {
  TaskType: defineSearchAttributeKey('TaskType', 'KEYWORD'),
  ServiceGroup: defineSearchAttributeKey('ServiceGroup', 'KEYWORD'),
  Lane: defineSearchAttributeKey('Lane', 'KEYWORD'),
  TenantId: defineSearchAttributeKey('TenantId', 'KEYWORD'),
  TaskStatus: defineSearchAttributeKey('TaskStatus', 'KEYWORD'),
};

const { resolveTask } = proxyLocalActivities<ControlActivities>({
  startToCloseTimeout: '10s',
  // Validation is deterministic: a bad envelope fails at once, an infrastructure hiccup retries.
  retry: { maximumAttempts: 5, initialInterval: '200ms' },
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Runs one task: validates its envelope against the catalog (on the control worker), then runs
 * its handler on the pool queue `tideway.<group>.<lane>` under the type's compiled retry policy,
 * keeping `state` and the search attributes true at every transition.
 */
export async function runTask(envelope: TaskEnvelope): Promise<unknown> {
  const info = workflowInfo();
  const raw = (envelope ?? {}) as Partial<TaskEnvelope>;
  const state: TaskState = {
    taskId: info.workflowId,
    type: typeof raw.type === 'string' ? raw.type : '',
    status: 'queued',
    attempts: 0,
    lane: null,
    group: null,
    tenant: typeof raw.tenant === 'string' ? raw.tenant : DEFAULT_TENANT,
    timestamps: { submittedAt: iso(info.runStartTime.getTime()) },
  };
  setHandler(stateQuery, () => state);

  const setStatus = (status: TaskStatus, extra: SearchAttributeUpdatePair[] = []): void => {
    state.status = status;
    upsertSearchAttributes([{ key: SA.TaskStatus, value: status }, ...extra]);
  };

  setHandler(attemptStartedSignal, ({ attempt, at }) => {
    if (attempt < state.attempts) return; // a late report of an older attempt
    state.attempts = attempt;
    state.timestamps.startedAt ??= iso(at);
    if (state.status === 'queued' || state.status === 'retrying') setStatus('running');
  });
  setHandler(attemptFailedSignal, ({ attempt, error }) => {
    if (attempt < state.attempts) return;
    state.attempts = attempt;
    state.lastError = { ...error, attempt };
    if (state.status === 'running') setStatus('retrying');
  });

  let task: ResolvedTask;
  try {
    task = await resolveTask(envelope);
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
    state.lastError = {
      type: cause?.type ?? 'ValidationError',
      class: 'non_retryable',
      message: cause?.message ?? String(err),
      attempt: 0,
    };
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('failed', [{ key: SA.TaskType, value: state.type || 'invalid' }]);
    throw ApplicationFailure.create({
      type: state.lastError.type,
      message: `task rejected: ${state.lastError.message}`,
      nonRetryable: true,
      details: cause?.details ? [...cause.details] : [],
    });
  }

  state.type = task.type;
  state.lane = task.lane;
  state.group = task.group;
  state.tenant = task.tenant;
  setStatus('queued', [
    { key: SA.TaskType, value: task.type },
    { key: SA.ServiceGroup, value: task.group },
    { key: SA.Lane, value: task.lane },
    { key: SA.TenantId, value: task.tenant },
  ]);

  const { executeTask } = proxyActivities<PoolActivities>({
    taskQueue: task.taskQueue,
    startToCloseTimeout: task.timeouts.startToCloseMs,
    heartbeatTimeout: task.timeouts.heartbeatMs,
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: {
      maximumAttempts: task.retry.maxAttempts,
      initialInterval: task.retry.retryable.initialMs,
      backoffCoefficient: task.retry.retryable.backoff,
      maximumInterval: task.retry.retryable.maxMs,
    },
  });

  try {
    const result = await executeTask({
      taskId: info.workflowId,
      type: task.type,
      input: task.input,
      lane: task.lane,
      tenant: task.tenant,
    });
    // The started signal may still be in flight when the result lands; count the attempt anyway.
    state.attempts = Math.max(state.attempts, 1);
    state.result = result;
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('succeeded');
    return result;
  } catch (err) {
    state.timestamps.finishedAt = iso(Date.now());
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => setStatus('cancelled'));
      throw err;
    }
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure) {
      const detail = (cause.details?.[0] ?? {}) as { class?: string };
      state.lastError = {
        type: cause.type ?? 'Error',
        class: detail.class ?? 'retryable',
        message: cause.message,
        attempt: Math.max(state.attempts, 1),
      };
    } else if (err instanceof Error) {
      state.lastError = { type: err.name, class: 'retryable', message: err.message, attempt: state.attempts };
    }
    setStatus('failed');
    throw ApplicationFailure.create({
      type: state.lastError?.type ?? 'TaskFailed',
      message: `task failed after ${state.attempts} attempt(s): ${state.lastError?.message ?? String(err)}`,
      nonRetryable: true,
    });
  }
}
