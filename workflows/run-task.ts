import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxySinks,
  getExternalWorkflowHandle,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
// Types only: workflow code must never load the catalog or handlers (they pull in Node), nor zod.
import type { CallbackActivities } from '../activities/callback';
import type { ControlActivities, PoolActivities } from '../activities/execute';
import type { ResolvedTask, TaskEnvelope } from '../config/envelope';
import type { TaskError, TaskState } from '../config/task-state';
import {
  attemptFailedSignal,
  attemptStartedSignal,
  discardSignal,
  pauseSignal,
  redriveSignal,
  resumeSignal,
  shardDeadLetteredSignal,
  stateQuery,
  type RedriveRequest,
  type TidewaySinks,
} from '../config/messages';
import {
  DEFAULT_TENANT,
  appOfControlQueue,
  callbackTaskQueue,
  LANES,
  LANE_PRIORITY_KEY,
  poolTaskQueue,
  type Lane,
  type TaskStatus,
} from '../config/names';
import { SA_KEYS as SA, taskAttributePairs } from '../config/search-attributes';
import {
  FLOW_PATCH,
  FLOW_PERMIT_IN_ACTIVITY_PATCH,
  SEQ_PER_SCHEDULE,
  flowLimiterId,
  type AttemptPermit,
  type PermitAttemptResult,
  type PermitReply,
} from '../config/flow';
import { flowPermits, type Permit } from './flow';

const { resolveTask } = proxyLocalActivities<ControlActivities>({
  startToCloseTimeout: '10s',
  // Validation is deterministic: a bad envelope fails at once, an infrastructure hiccup retries.
  retry: { maximumAttempts: 5, initialInterval: '200ms' },
});

const LANE_UP: Record<Lane, Lane | undefined> = { low: 'normal', normal: 'high', high: undefined };

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** How one schedule of `executeTask` ended. */
type Outcome =
  /** `released` false: the attempt took a permit and could not give it back (the workflow does). */
  | { kind: 'succeeded'; result: unknown; released?: boolean }
  | { kind: 'permit_queued'; seq: number; reply?: PermitReply } // the key was full: no attempt ran
  | { kind: 'failed'; error: TaskError }
  | { kind: 'held' } // cancelled by us because the task was paused
  | { kind: 'not_started'; lane: Lane } // schedule-to-start timeout: TTL or promotion
  | { kind: 'dropped'; error: TaskError }; // over the type's per-key rate limit in drop mode

/**
 * What TaskClient resolved before starting (`resolveEnvelope` on the client's catalog), so the
 * workflow need not resolve again: the local activity round trip is most of a workflow task's time.
 * `input` is left out when it equals the envelope's (no copy of big inputs in history).
 */
export type ClientResolvedTask = Omit<ResolvedTask, 'input' | 'delayMs'> & {
  input?: unknown;
  /**
   * The client set the task's search attributes at start (TaskClient does), so the workflow upserts
   * only what differs from them: one visibility write and one history event fewer per task.
   * Histories recorded before this flag existed lack it and replay through the upsert they made.
   */
  attributesAtStart?: true;
};

const { admission } = proxySinks<TidewaySinks>();

/** The error `state` reports for an envelope the resolve step rejected, and its cause (shared with `runBatch`). */
export function rejectionOf(err: unknown): { lastError: TaskError; cause: ApplicationFailure | undefined } {
  const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return {
    cause,
    lastError: { type: cause?.type ?? 'ValidationError', class: 'non_retryable', message: cause?.message ?? String(err), attempt: 0 },
  };
}

/** What `state` says of a task before anything happened (shared with `runBatch`). */
export function initialTaskState(taskId: string, raw: Partial<TaskEnvelope>, timestamps: TaskState['timestamps']): TaskState {
  return {
    taskId,
    type: typeof raw.type === 'string' ? raw.type : '',
    status: 'queued',
    attempts: 0,
    lane: null,
    group: null,
    tenant: typeof raw.tenant === 'string' ? raw.tenant : DEFAULT_TENANT,
    paused: false,
    promotions: [],
    redrives: 0,
    timestamps,
  };
}

/**
 * Tells the control process how long this task waited for its first workflow task (the sink is
 * not called on replay, and records nothing in history). Only TaskClient-started tasks without a
 * start delay say their lane at once; the others are left out.
 */
function reportFirstTaskWait(info: ReturnType<typeof workflowInfo>, resolved: ClientResolvedTask | undefined): void {
  const lane = (resolved as Partial<ClientResolvedTask> | undefined)?.lane;
  if (lane === undefined || !(LANES as readonly string[]).includes(lane)) return;
  if (info.typedSearchAttributes.get(SA.TaskStatus) === 'scheduled') return;
  admission.firstTaskWait(lane, Math.max(0, Date.now() - info.runStartTime.getTime()));
}

/** A usable client resolution; anything else (a plain client's second argument) is resolved again. */
function usableResolution(envelope: Partial<TaskEnvelope>, r: unknown): r is ClientResolvedTask {
  const c = r as Partial<ClientResolvedTask> | null | undefined;
  return (
    typeof c === 'object' &&
    c !== null &&
    c.type === envelope.type &&
    typeof c.group === 'string' &&
    typeof c.tenant === 'string' &&
    (LANES as readonly unknown[]).includes(c.lane) &&
    typeof c.timeouts === 'object' &&
    typeof c.retry === 'object' &&
    typeof c.deadLetterRetentionMs === 'number'
  );
}

/**
 * Runs one task: validates its envelope against the catalog (local activity on the control
 * worker, unless TaskClient passed its own resolution as `resolved`), then runs its handler on the
 * pool queue `tideway[.<app>].<group>.<lane>` under the type's retry policy compiled to Temporal's own (so
 * attempts and delays show in the Web UI). Keeps `state` and the search attributes true at every
 * transition. A task that fails for good is dead-lettered: it stays open, waiting for `redrive` or
 * `discard`, until its retention ends.
 */
export async function runTask(envelope: TaskEnvelope, resolved?: ClientResolvedTask): Promise<unknown> {
  const info = workflowInfo();
  // The app comes from the control queue the task was started on (`tideway.<app>.control`), so a
  // plain client needs nothing but that queue's name; history replays the same (it is recorded).
  const app = appOfControlQueue(info.taskQueue);
  const raw = (envelope ?? {}) as Partial<TaskEnvelope>;
  reportFirstTaskWait(info, resolved);
  const state = initialTaskState(info.workflowId, raw, { submittedAt: iso(info.runStartTime.getTime()) });
  let attemptRunning = false;
  let redriveRequest: RedriveRequest | undefined;
  let discardRequested = false;
  let holdCurrent: (() => void) | undefined; // cancels the current schedule when a pause arrives

  const setStatus = (status: TaskStatus, extra: SearchAttributeUpdatePair[] = []): void => {
    if (state.status === status && extra.length === 0) return;
    state.status = status;
    upsertSearchAttributes([{ key: SA.TaskStatus, value: status }, ...extra]);
  };

  setHandler(stateQuery, () => state);
  setHandler(attemptStartedSignal, ({ attempt, at }) => {
    if (attempt < state.attempts) return; // a late report of an older attempt
    state.attempts = attempt;
    attemptRunning = true;
    state.timestamps.startedAt ??= iso(at);
    if (state.status === 'queued' || state.status === 'retrying' || state.status === 'paused') setStatus('running');
  });
  setHandler(attemptFailedSignal, ({ attempt, error }) => {
    if (attempt < state.attempts) return;
    state.attempts = attempt;
    attemptRunning = false;
    state.lastError = { ...error, attempt };
    state.timestamps.startedAt ??= iso(Date.now());
    // A short attempt may fail before its `running` report was due: go straight to retrying.
    if (state.status === 'running' || state.status === 'queued') setStatus('retrying');
    // Paused while it ran: hold the retry instead of letting it start.
    if (state.paused) holdCurrent?.();
  });
  setHandler(pauseSignal, () => {
    if (state.paused || !['scheduled', 'queued', 'running', 'retrying'].includes(state.status)) return;
    state.paused = true;
    // A running attempt finishes; a waiting one is taken off the queue until `resume`.
    if (!attemptRunning) holdCurrent?.();
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
  });
  setHandler(redriveSignal, (req) => {
    if (state.status !== 'dead_lettered') return;
    redriveRequest = req && (LANES as readonly string[]).includes(req.lane ?? '') ? { lane: req.lane } : {};
  });
  setHandler(discardSignal, () => {
    if (state.status === 'dead_lettered') discardRequested = true;
  });

  // 1. Validate against the catalog (also for tasks started by a plain Temporal client).
  let task: ResolvedTask;
  // Branching on the workflow's own input keeps replay deterministic: histories recorded before
  // this second argument existed have none and take the local activity, as they did.
  const fromClient = usableResolution(raw, resolved);
  try {
    task = fromClient ? { ...resolved, input: resolved.input !== undefined ? resolved.input : raw.input } : await resolveTask(envelope);
  } catch (err) {
    const { cause, lastError } = rejectionOf(err);
    state.lastError = lastError;
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('failed', [{ key: SA.TaskType, value: state.type || 'invalid' }]);
    throw ApplicationFailure.create({
      type: state.lastError.type,
      message: `task rejected: ${state.lastError.message}`,
      nonRetryable: true,
      details: cause?.details ? [...cause.details] : [],
    });
  }

  // A batch type runs as `runBatch` (TaskClient starts it so); a plain client's runTask of one fails.
  if (task.batch) {
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('failed', [{ key: SA.TaskType, value: task.type }]);
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: `${task.type} is a batch type: start it as workflow runBatch`,
      nonRetryable: true,
    });
  }

  state.type = task.type;
  state.group = task.group;
  state.tenant = task.tenant;
  let lane = task.lane;
  state.lane = lane;
  const saBase = (l: Lane, status?: TaskStatus): SearchAttributeUpdatePair[] =>
    taskAttributePairs({ type: task.type, group: task.group, lane: l, tenant: task.tenant, ...(status ? { status } : {}) });

  // A plain client started a new run of a task ID whose earlier run succeeded (TaskClient and HTTP
  // refuse such a start): the handler ran once already, so this run ends at once as a duplicate,
  // returning that run's result. The branch follows the resolve step's recorded result: replay-safe.
  if (task.earlierSuccess) {
    const e = task.earlierSuccess;
    state.duplicateOf = {
      runId: e.runId,
      ...(e.finishedAt ? { finishedAt: e.finishedAt } : {}),
      ...(e.resultOmitted ? { resultOmitted: true } : {}),
    };
    if (e.result !== undefined) state.result = e.result;
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('duplicate', saBase(lane));
    return e.result;
  }

  // 2. A delay given in the envelope (plain-client starts; TaskClient uses Temporal's start delay).
  if (task.delayMs) {
    setStatus('scheduled', saBase(lane));
    await sleep(task.delayMs);
  }
  if (fromClient && resolved.attributesAtStart === true) {
    // Only what the start-time attributes (in the start event, so replay-safe) do not already say.
    const due = saBase(lane, 'queued').filter((p) => info.typedSearchAttributes.get(p.key) !== p.value);
    state.status = 'queued';
    if (due.length > 0) upsertSearchAttributes(due);
  } else {
    setStatus('queued', saBase(lane));
  }

  // 3. TTL counts from when the task became eligible to run.
  const deadline = task.ttlMs !== undefined ? Date.now() + task.ttlMs : undefined;
  if (deadline !== undefined) state.timestamps.expiresAt = iso(deadline);

  // Flow control per key (config/flow.ts): keys were computed when the envelope was resolved. Behind
  // a patch so histories recorded before it replay as they ran (they have no flow anyway).
  const flow = task.flow !== undefined && patched(FLOW_PATCH) ? task.flow : undefined;
  const permits = flow ? flowPermits(info.workflowId, app, state) : undefined;
  // Asked where the first concurrency permit is needed, so histories recorded before replay the
  // workflow's own local activities there.
  let inActivity: boolean | undefined;
  const permitInActivity = (): boolean => (inActivity ??= patched(FLOW_PERMIT_IN_ACTIVITY_PATCH));
  let rateTaken = false;
  if (flow) {
    state.flow = {
      ...(flow.concurrency ? { concurrencyKey: flow.concurrency.key } : {}),
      ...(flow.rate ? { rateKey: flow.rate.key } : {}),
    };
  }

  // The type's retryable schedule in Temporal's terms (throttled delays come per failure instead).
  const retryableBackoff = {
    initialInterval: task.retry.retryable.initialMs,
    backoffCoefficient: task.retry.retryable.backoff,
    maximumInterval: task.retry.retryable.maxMs,
  };

  const callback = task.callbackUrl
    ? proxyActivities<CallbackActivities>({
        taskQueue: callbackTaskQueue(app),
        startToCloseTimeout: '30s',
        retry: { maximumAttempts: task.retry.maxAttempts, ...retryableBackoff },
      }).deliverCallback
    : undefined;
  const notify = async (payload: { status: string; result?: unknown; error?: unknown }): Promise<void> => {
    if (!callback || !task.callbackUrl) return;
    try {
      await callback({
        taskId: info.workflowId,
        tenant: task.tenant,
        url: task.callbackUrl,
        payload: { taskId: info.workflowId, ...payload },
      });
    } catch (err) {
      // A callback that cannot be delivered must not change the task's own outcome.
      log.warn('callback delivery failed', { error: String(err) });
    }
  };

  const finish = async (status: TaskStatus, failure?: ApplicationFailure): Promise<never | void> => {
    state.timestamps.finishedAt = iso(Date.now());
    setStatus(status);
    if (failure) throw failure;
  };

  /** Schedules `executeTask` once under the retry policy; resolves with how that schedule ended. */
  const scheduleOnce = async (maxAttempts: number, permit?: AttemptPermit): Promise<Outcome> => {
    const timeouts: number[] = [];
    if (deadline !== undefined && state.attempts === 0) timeouts.push(Math.max(1, deadline - Date.now()));
    const promoteTo = LANE_UP[lane];
    if (task.promoteAfterMs !== undefined && promoteTo && state.attempts === 0) timeouts.push(task.promoteAfterMs);
    const { executeTask } = proxyActivities<PoolActivities>({
      taskQueue: poolTaskQueue(task.group, lane, app),
      startToCloseTimeout: task.timeouts.startToCloseMs,
      heartbeatTimeout: task.timeouts.heartbeatMs,
      ...(timeouts.length > 0 ? { scheduleToStartTimeout: Math.min(...timeouts) } : {}),
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
      // The lane's priority (also after a promotion or a redrive to another lane), and fairness
      // between tenants inside the lane's queue (server flag matching.enableFairness).
      // The weight of the tenant's plan, when the submit set one on the workflow (api/start-task.ts):
      // only then, so tasks without one schedule exactly what they always did.
      priority: { priorityKey: LANE_PRIORITY_KEY[lane], fairnessKey: task.tenant, ...planWeightOf(info) },
      retry: { maximumAttempts: maxAttempts, ...retryableBackoff },
      // The Web UI's line for this schedule of the handler (its retries are attempts of it).
      summary: `${task.type} on ${lane} lane, tenant ${task.tenant}${state.attempts > 0 ? `, from attempt ${state.attempts + 1}` : ''}`,
    });
    const offset = state.attempts;
    const scope = new CancellationScope();
    let held = false;
    holdCurrent = () => {
      held = true;
      scope.cancel();
    };
    try {
      const result = await scope.run(() =>
        executeTask({
          taskId: info.workflowId,
          type: task.type,
          input: task.input,
          lane,
          tenant: task.tenant,
          attemptOffset: state.attempts,
          // Only when set, so tasks without a tag schedule exactly what they always did.
          ...(task.tag !== undefined ? { tag: task.tag } : {}),
          ...(permit ? { permit } : {}),
        }),
      );
      const ran = permit ? (result as PermitAttemptResult) : undefined;
      if (ran?.permit === 'queued') {
        // The schedule's attempts before the one that asked did run (a pool may have died under one
        // before it reported): the next schedule numbers its attempts after them.
        state.attempts = Math.max(state.attempts, offset + ran.attempt - 1);
        return { kind: 'permit_queued', seq: ran.seq, ...(ran.reply ? { reply: ran.reply } : {}) };
      }
      // Started reports come only for attempts past STARTED_SIGNAL_DELAY_MS and failures always
      // report, so an unreported success is the attempt after the last one counted.
      if (!attemptRunning) state.attempts += 1;
      return ran ? { kind: 'succeeded', result: ran.result, released: ran.released } : { kind: 'succeeded', result };
    } catch (err) {
      if (held && isCancellation(err) && !CancellationScope.current().consideredCancelled) return { kind: 'held' };
      if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START') {
        return { kind: 'not_started', lane };
      }
      if (isCancellation(err)) throw err;
      return { kind: 'failed', error: errorOf(err, state.attempts) };
    } finally {
      holdCurrent = undefined;
      attemptRunning = false;
    }
  };

  /** Runs attempts until success or failure for good, honouring pause, TTL and aging. */
  const runAttempts = async (budget: number): Promise<Outcome | { kind: 'expired' }> => {
    rateTaken = false;
    const firstAttempt = state.attempts;
    // A concurrency permit granted while the task waited, for the next schedule's first attempt.
    let heldSeq: number | undefined;
    const concurrencyLimiter = flow?.concurrency ? flowLimiterId('concurrency', task.type, flow.concurrency.key, app) : '';
    for (;;) {
      if (state.paused && heldSeq !== undefined && permits) {
        // A paused task holds no permit: it asks again after the resume.
        await permits.release({ limiterId: concurrencyLimiter, seq: heldSeq });
        heldSeq = undefined;
      }
      if (state.paused) {
        setStatus('paused');
        const remaining = deadline !== undefined && state.attempts === 0 ? deadline - Date.now() : undefined;
        const resumed =
          remaining === undefined
            ? (await condition(() => !state.paused), true)
            : await condition(() => !state.paused, Math.max(1, remaining));
        if (!resumed) return { kind: 'expired' };
        setStatus(state.attempts > 0 ? 'retrying' : 'queued');
      }
      if (deadline !== undefined && state.attempts === 0 && Date.now() >= deadline) return { kind: 'expired' };
      const used = state.attempts - firstAttempt;
      if (used >= budget)
        return {
          kind: 'failed',
          error: state.lastError ?? { type: 'TaskFailed', class: 'retryable', message: 'attempts exhausted', attempt: state.attempts },
        };
      // TTL still counts while a task waits for a permit; a pause withdraws the request.
      const ttlLeft = deadline !== undefined && state.attempts === 0 ? deadline - Date.now() : undefined;
      if (permits && flow?.rate && !rateTaken) {
        const r = await permits.acquire({
          kind: 'rate',
          type: task.type,
          key: flow.rate.key,
          limit: flow.rate.limit,
          perMs: flow.rate.perMs,
          mode: flow.rate.mode,
          priority: LANE_PRIORITY_KEY[lane],
          ...(ttlLeft !== undefined ? { timeoutMs: ttlLeft } : {}),
          abort: () => state.paused,
        });
        if (r.kind === 'timeout') return { kind: 'expired' };
        if (r.kind === 'aborted') continue;
        if (r.kind === 'dropped') {
          const message = `over the rate limit of key ${flow.rate.key}: ${r.reply.running}/${r.reply.limit} per ${flow.rate.perMs}ms (mode drop)`;
          return { kind: 'dropped', error: { type: 'ThrottledDropped', class: 'throttled', message, attempt: state.attempts } };
        }
        rateTaken = true; // one rate permit per task (and per redrive), not per attempt
      }
      let permit: Permit | undefined;
      let attemptPermit: AttemptPermit | undefined;
      if (permits && flow?.concurrency && permitInActivity()) {
        // The attempt takes the permit itself (activities/execute.ts): a free key costs this
        // workflow no step at all; a full one comes back as `permit_queued` and is waited on below.
        attemptPermit = {
          limiterId: concurrencyLimiter,
          type: task.type,
          key: flow.concurrency.key,
          limit: flow.concurrency.limit,
          priority: LANE_PRIORITY_KEY[lane],
          schedule: permits.nextSchedule(),
          ...(heldSeq !== undefined ? { heldSeq } : {}),
        };
        heldSeq = undefined;
      } else if (permits && flow?.concurrency) {
        const c = await permits.acquire({
          kind: 'concurrency',
          type: task.type,
          key: flow.concurrency.key,
          limit: flow.concurrency.limit,
          priority: LANE_PRIORITY_KEY[lane],
          ...(ttlLeft !== undefined ? { timeoutMs: ttlLeft } : {}),
          abort: () => state.paused,
        });
        if (c.kind === 'timeout') return { kind: 'expired' };
        if (c.kind !== 'granted') continue;
        permit = c.permit;
      }
      let outcome: Outcome | undefined;
      try {
        // The permit is held by this workflow across the schedule's retries: a pool dying mid-attempt
        // keeps it held (Temporal retries the attempt after the heartbeat timeout), never doubles it.
        outcome = await scheduleOnce(budget - used, attemptPermit);
      } finally {
        if (permits && permit) await permits.release(permit);
        // An attempt gives its permit back itself; whatever else ended the schedule (a failure for
        // good, a pool that died holding it, a pause, a cancel, a release that was not sent), every
        // permit of this schedule (and the one it started with) goes back here.
        const gaveBack = outcome?.kind === 'succeeded' && outcome.released === true;
        if (permits && attemptPermit && !gaveBack && outcome?.kind !== 'permit_queued') {
          await permits.release({ limiterId: attemptPermit.limiterId, seq: (attemptPermit.schedule + 1) * SEQ_PER_SCHEDULE - 1 });
        }
      }
      if (outcome.kind === 'permit_queued' && permits && flow?.concurrency) {
        const left = deadline !== undefined && state.attempts === 0 ? deadline - Date.now() : undefined;
        const g = await permits.awaitGrant({
          kind: 'concurrency',
          key: flow.concurrency.key,
          limiterId: concurrencyLimiter,
          seq: outcome.seq,
          ...(outcome.reply ? { direct: outcome.reply } : {}),
          ...(left !== undefined ? { timeoutMs: Math.max(1, left) } : {}),
          abort: () => state.paused,
        });
        if (g.kind === 'timeout') return { kind: 'expired' };
        if (g.kind === 'granted') heldSeq = outcome.seq;
        continue;
      }
      if (outcome.kind === 'held') continue;
      if (outcome.kind === 'not_started') {
        if (deadline !== undefined && Date.now() >= deadline - 1) return { kind: 'expired' };
        const to = LANE_UP[lane];
        if (!to) return { kind: 'expired' };
        // Aging: waited longer than promoteAfter in this lane; move up one lane.
        state.promotions.push({ from: lane, to, at: iso(Date.now()) });
        log.info('task promoted', { from: lane, to });
        lane = to;
        state.lane = lane;
        setStatus(state.status, [{ key: SA.Lane, value: lane }]);
        continue;
      }
      return outcome;
    }
  };

  // 4. Run; on failure for good, dead-letter and wait for an operator.
  try {
    for (;;) {
      const outcome = await runAttempts(task.retry.maxAttempts);
      if (outcome.kind === 'succeeded') {
        state.result = outcome.result;
        await finish('succeeded');
        await notify({ status: 'succeeded', result: outcome.result });
        return outcome.result;
      }
      if (outcome.kind === 'expired') {
        state.lastError = {
          type: 'TaskExpired',
          class: 'expired',
          message: `not started within its TTL (${task.ttlMs}ms)`,
          attempt: state.attempts,
        };
        await notify({ status: 'expired', error: state.lastError });
        return await finish(
          'expired',
          ApplicationFailure.create({ type: 'TaskExpired', message: state.lastError.message, nonRetryable: true }),
        );
      }
      if (outcome.kind === 'dropped') {
        state.lastError = outcome.error;
        await notify({ status: 'throttled_dropped', error: outcome.error });
        return await finish(
          'throttled_dropped',
          ApplicationFailure.create({ type: 'ThrottledDropped', message: outcome.error.message, nonRetryable: true }),
        );
      }
      if (outcome.kind !== 'failed') continue;

      state.lastError = outcome.error;
      state.timestamps.deadLetteredAt = iso(Date.now());
      state.timestamps.deadLetterExpiresAt = iso(Date.now() + task.deadLetterRetentionMs);
      redriveRequest = undefined;
      discardRequested = false;
      setStatus('dead_lettered');
      await notify({ status: 'dead_lettered', error: outcome.error });
      // A shard of a batch (`runBatch` started it as a child): the batch counts it failed rather
      // than wait for it. By workflow ID, so the batch's current run hears it after a continue-as-new.
      if (info.parent && task.type.endsWith('#shard')) {
        await getExternalWorkflowHandle(info.parent.workflowId)
          .signal(shardDeadLetteredSignal, { taskId: info.workflowId, error: outcome.error })
          .catch((err: unknown) => log.warn('could not report the dead letter to the batch', { error: String(err) }));
      }
      const decided = await condition(() => redriveRequest !== undefined || discardRequested, task.deadLetterRetentionMs);
      // Set by the signal handlers while we waited (TypeScript cannot see that).
      const redrive = redriveRequest as RedriveRequest | undefined;
      if (decided && redrive && !discardRequested) {
        state.redrives += 1;
        if (redrive.lane && redrive.lane !== lane) {
          lane = redrive.lane;
          state.lane = lane;
        }
        delete state.timestamps.deadLetteredAt;
        delete state.timestamps.deadLetterExpiresAt;
        setStatus('queued', [{ key: SA.Lane, value: lane }]);
        redriveRequest = undefined;
        continue; // fresh attempt budget
      }
      const why = discardRequested ? 'discarded' : `dead-letter retention (${task.deadLetterRetentionMs}ms) ended`;
      return await finish(
        'failed',
        ApplicationFailure.create({
          type: outcome.error.type,
          message: `task failed after ${state.attempts} attempt(s), ${why}: ${outcome.error.message}`,
          nonRetryable: true,
        }),
      );
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        state.timestamps.finishedAt = iso(Date.now());
        setStatus('cancelled');
      });
    }
    throw err;
  }
}

/** The fairness weight the task was started with (its tenant's plan), as a priority field, or nothing. */
function planWeightOf(info: ReturnType<typeof workflowInfo>): { fairnessWeight?: number } {
  const w = info.priority?.fairnessWeight;
  return typeof w === 'number' && w > 0 ? { fairnessWeight: w } : {};
}

/** Reads a handler failure into the shape `state.lastError` reports. */
function errorOf(err: unknown, attempts: number): TaskError {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const detail = (cause.details?.[0] ?? {}) as { class?: string };
    return { type: cause.type ?? 'Error', class: detail.class ?? 'retryable', message: cause.message, attempt: Math.max(attempts, 1) };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      type: `Timeout${cause.timeoutType}`,
      class: 'timeout',
      message: cause.message || `activity timed out (${cause.timeoutType})`,
      attempt: attempts,
    };
  }
  return {
    type: (cause as Error)?.name ?? 'Error',
    class: 'retryable',
    message: (cause as Error)?.message ?? String(cause),
    attempt: attempts,
  };
}
