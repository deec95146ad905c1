import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, type SearchAttributePair } from '@temporalio/common';
// Types only: no catalog, no handlers, no zod in workflow code.
import type { ControlActivities, PoolActivities } from '../activities/execute';
import type { RedriveActivities, SettledShard } from '../activities/redrive';
import type { CompiledBatch } from '../config/catalog-schema';
import type { ResolvedTask, TaskEnvelope } from '../config/envelope';
import type { BatchResult } from '../config/task';
import type { BatchProgress } from '../config/task-state';
import { shardDeadLetteredSignal, stateQuery } from '../config/messages';
import { LANE_PRIORITY_KEY, appOfControlQueue, poolTaskQueue, shardRedriveTaskQueue, shardTaskId, type TaskStatus } from '../config/names';
import { SA_KEYS as SA, taskAttributePairs, taskUserMetadata } from '../config/search-attributes';
import type { ClientResolvedTask } from './run-task';
import { initialTaskState, rejectionOf, runTask } from './run-task';

/** Results handed to one `reduceBatch` call at most, and their encoded size at most. */
const REDUCE_PAGE_ITEMS = 100;
const REDUCE_PAGE_BYTES = 256 * 1024;
/** Failed shard IDs a batch keeps (its `failed` count is exact). */
const FAILED_IDS_KEPT = 1000;
/**
 * Patch: continue as new without first draining the running shards (the next run waits for them
 * through `awaitShards`). Runs that reached their continue-as-new point before it drain, as they did.
 */
const CONTINUE_WITHOUT_DRAIN = 'tideway-batch-continue-without-drain';

/** What one run of `runBatch` hands the next (continue-as-new): the batch's position and totals. */
export interface BatchCarry {
  /** Index of the next shard to start (= shards started so far). */
  next: number;
  /** Split position: descriptors taken so far. */
  cursor: number;
  splitDone: boolean;
  /** Descriptors of the current page not started yet. */
  pending: unknown[];
  done: number;
  failed: number;
  failedShards: string[];
  hasAcc: boolean;
  acc?: unknown;
  runs: number;
  submittedAt: string;
  startedAt?: string;
  /**
   * Shards the previous run started and did not see finish (it continued as new without draining
   * them): this run waits for them through activity `awaitShards`, since their completions no
   * longer reach it as a child's. At most `maxParallel` entries.
   */
  inflight?: { id: string; n: number }[];
  /**
   * Set by `TaskClient.redrive` on a new run of a finished batch: the failed shards to run again.
   * The rest of the carry is the finished batch's totals and output, so the results of redriven
   * shards fold into it and the batch ends as if they had succeeded the first time.
   */
  redrive?: BatchRedrive;
}

/** A redrive of a finished batch's failed shards (`BatchCarry.redrive`). */
export interface BatchRedrive {
  /** 1 for the batch's first redrive, 2 for the next, … */
  round: number;
  /** Shard task IDs to redrive (the failed IDs the finished batch kept). */
  shards: string[];
  /** Index in `shards` of the next one to redrive. */
  next: number;
  /** Of those: succeeded this round / failed again this round. */
  succeeded: number;
  failed: number;
  /** Shards that succeeded on a redrive in earlier rounds (`BatchResult.redriven` adds this round's). */
  redrivenBefore: number;
}

/** The shard number of shard task ID `id` of batch `batchId`, or undefined for another ID. */
function shardNumberOf(batchId: string, id: string): number | undefined {
  const m = /^\/shard-(\d+)$/.exec(id.slice(batchId.length));
  return id.startsWith(batchId) && m ? Number(m[1]) : undefined;
}

/** The shard type of batch type `type` (config/task.ts's shardTypeOf, kept free of zod imports). */
const shardType = (type: string): string => `${type}#shard`;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Runs a batch task (`defineBatchTask`): pages through its split on the group's pool, starts every
 * shard as an ordinary task workflow (`runTask`, type `<type>#shard`, ID `<taskId>/shard-<n>`) as a
 * child with ParentClosePolicy ABANDON, at most `maxParallel` at once, and folds their results into
 * the output page by page through `reduceBatch` on the pool. A shard that dead-letters signals this
 * workflow, so it never waits on it. Every `shardsPerRun` shards (or when Temporal suggests it) the
 * workflow drains its running shards and continues as new, so its history stays bounded whatever
 * the shard count. Deterministic shard IDs and Temporal's ID rules mean a replay, a crashed
 * control worker or a re-run of a failed batch never starts a shard twice.
 */
export async function runBatch(envelope: TaskEnvelope, resolved?: ClientResolvedTask, carry?: BatchCarry): Promise<BatchResult> {
  const info = workflowInfo();
  const app = appOfControlQueue(info.taskQueue);
  const raw = (envelope ?? {}) as Partial<TaskEnvelope>;
  const c: BatchCarry = carry ?? {
    next: 0,
    cursor: 0,
    splitDone: false,
    pending: [],
    done: 0,
    failed: 0,
    failedShards: [],
    hasAcc: false,
    runs: 0,
    submittedAt: iso(info.runStartTime.getTime()),
  };
  c.runs += 1;
  const running = new Map<string, number>(); // shard task ID → index
  // Shards whose child start Temporal has not confirmed yet: a run never continues as new with one,
  // since the server drops a child start that its closed parent initiated.
  const starting = new Set<string>();
  // Redrive mode: shards being redriven → the scope of their redriveShard wait (cancelled on a dead letter).
  const redriving = new Map<string, CancellationScope>();
  const results: unknown[] = [];
  let resultBytes = 0;
  let stop: 'fail_fast' | undefined;
  let batch: CompiledBatch | undefined = undefined; // set once resolved; the state query reads it

  const progress = (): BatchProgress => ({
    total: c.next + c.pending.length,
    splitDone: c.splitDone,
    done: c.done,
    failed: c.failed,
    running: running.size,
    maxParallel: batch?.maxParallel ?? 0,
    onShardFailure: batch?.onShardFailure ?? 'fail_fast',
    failedShards: c.failedShards,
    runs: c.runs,
    ...(c.redrive
      ? {
          redrive: {
            round: c.redrive.round,
            shards: c.redrive.shards.length,
            done: c.redrive.succeeded,
            failed: c.redrive.failed,
            running: redriving.size,
          },
        }
      : {}),
  });
  const state = initialTaskState(info.workflowId, raw, { submittedAt: c.submittedAt, ...(c.startedAt ? { startedAt: c.startedAt } : {}) });
  setHandler(stateQuery, () => ({ ...state, ...(batch ? { batch: progress() } : {}) }));

  const setStatus = (status: TaskStatus): void => {
    if (state.status === status) return;
    state.status = status;
    upsertSearchAttributes([{ key: SA.TaskStatus, value: status }]);
  };
  const shardFailed = (id: string, why: string): void => {
    if (!running.delete(id)) return; // already counted (a dead-letter report, then its close)
    c.failed += 1;
    if (c.failedShards.length < FAILED_IDS_KEPT) c.failedShards.push(id);
    log.warn('shard failed', { shard: id, why });
    if (batch?.onShardFailure === 'fail_fast') stop = 'fail_fast';
  };
  /** A redriven shard that failed again: it stays in `failedShards`, counted failed once already. */
  const redriveFailed = (id: string, why: string): void => {
    const scope = redriving.get(id);
    if (!scope || !c.redrive) return;
    redriving.delete(id);
    running.delete(id);
    c.redrive.failed += 1;
    log.warn('redriven shard failed again', { shard: id, why });
    scope.cancel(); // stop waiting for it (a no-op when its wait is over already)
  };
  // Shards inherited from the previous run (`c.inflight`), and the scope of the current wait for them.
  const inherited = new Set<string>();
  let inheritedWait: CancellationScope | undefined;
  setHandler(shardDeadLetteredSignal, ({ taskId, error }) => {
    if (redriving.has(taskId)) redriveFailed(taskId, `dead-lettered: ${error.message}`);
    else shardFailed(taskId, `dead-lettered: ${error.message}`);
    // A dead-lettered shard never settles in `awaitShards`: ask again without it.
    if (inherited.delete(taskId)) inheritedWait?.cancel();
  });

  // 1. The batch type's resolution: TaskClient's, else the control worker's local activity.
  let task: ResolvedTask;
  if (resolved && resolved.type === raw.type && resolved.batch) {
    task = { ...resolved, input: resolved.input !== undefined ? resolved.input : raw.input };
  } else {
    const { resolveTask } = proxyLocalActivities<ControlActivities>({
      startToCloseTimeout: '10s',
      retry: { maximumAttempts: 5, initialInterval: '200ms' },
    });
    try {
      task = await resolveTask(envelope);
    } catch (err) {
      state.lastError = rejectionOf(err).lastError;
      state.timestamps.finishedAt = iso(Date.now());
      setStatus('failed');
      throw ApplicationFailure.create({
        type: state.lastError.type,
        message: `task rejected: ${state.lastError.message}`,
        nonRetryable: true,
      });
    }
  }
  if (!task.batch) {
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('failed');
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: `${task.type} is no batch type; run it as runTask`,
      nonRetryable: true,
    });
  }
  const b: CompiledBatch = task.batch;
  batch = b;
  state.type = task.type;
  state.group = task.group;
  state.lane = task.lane;
  state.tenant = task.tenant;
  const lane = task.lane;
  const poolQueue = poolTaskQueue(task.group, lane, app);
  const childType = shardType(task.type);
  if (c.runs === 1 && !(resolved?.attributesAtStart === true)) {
    upsertSearchAttributes(taskAttributePairs({ type: task.type, group: task.group, lane, tenant: task.tenant, status: 'queued' }));
  }

  const backoff = {
    initialInterval: task.retry.retryable.initialMs,
    backoffCoefficient: task.retry.retryable.backoff,
    maximumInterval: task.retry.retryable.maxMs,
  };
  const { splitBatch, reduceBatch, shardResult } = proxyActivities<PoolActivities>({
    taskQueue: poolQueue,
    // No heartbeat timeout: a split or reduce need not heartbeat (the shards' timeout is for handlers).
    startToCloseTimeout: task.timeouts.startToCloseMs,
    priority: { priorityKey: LANE_PRIORITY_KEY[lane], fairnessKey: task.tenant },
    retry: { maximumAttempts: task.retry.maxAttempts, ...backoff },
  });

  // What every shard runs with: the batch type's retry policy, timeouts, lane and dead letter.
  const { input: _input, batch: _batch, earlierSuccess: _e, delayMs: _d, ttlMs: _t, callbackUrl: _cb, ...shared } = task;
  const shardResolution = (): ClientResolvedTask => ({
    ...shared,
    type: childType,
    taskQueue: poolQueue,
    attributesAtStart: true,
  });
  const shardAttributes: SearchAttributePair[] = taskAttributePairs({
    type: childType,
    group: task.group,
    lane,
    tenant: task.tenant,
    status: 'queued',
  });

  const reduceBuffered = async (): Promise<void> => {
    while (results.length > 0 || !c.hasAcc) {
      const page: unknown[] = [];
      let bytes = 0;
      while (results.length > 0 && page.length < REDUCE_PAGE_ITEMS) {
        const size = JSON.stringify(results[0] ?? null).length;
        if (page.length > 0 && bytes + size > REDUCE_PAGE_BYTES) break;
        page.push(results.shift());
        bytes += size;
      }
      resultBytes = Math.max(0, resultBytes - bytes);
      c.acc = await reduceBatch({
        taskId: info.workflowId,
        type: task.type,
        lane,
        tenant: task.tenant,
        hasAcc: c.hasAcc,
        ...(c.hasAcc ? { acc: c.acc } : {}),
        results: page,
      });
      c.hasAcc = true;
    }
  };

  const shardSucceeded = (id: string, result: unknown): void => {
    if (!running.delete(id)) return; // counted failed already (it dead-lettered, then was redriven)
    c.done += 1;
    results.push(result);
    resultBytes += JSON.stringify(result ?? null).length;
  };

  /** A shard's Web UI summary and details. */
  const shardMetadata = (n: number, note = '') => {
    const m = taskUserMetadata(
      { type: childType, group: task.group, lane, tenant: task.tenant },
      { batch: { taskId: info.workflowId, shard: n } },
    );
    return { ...m, staticSummary: m.staticSummary + note };
  };

  const runShard = async (n: number, desc: unknown): Promise<void> => {
    const id = shardTaskId(info.workflowId, n);
    running.set(id, n);
    let result: unknown;
    try {
      try {
        starting.add(id);
        const handle = await startChild(runTask, {
          workflowId: id,
          taskQueue: info.taskQueue,
          args: [{ type: childType, input: desc, lane, tenant: task.tenant }, shardResolution()],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          priority: { priorityKey: LANE_PRIORITY_KEY[lane] },
          typedSearchAttributes: shardAttributes,
          ...shardMetadata(n),
        }).finally(() => starting.delete(id));
        result = await handle.result();
      } catch (err) {
        // The ID ran already (a re-run of a failed batch): that run's result, never a second start.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        result = await shardResult({ taskId: id });
      }
    } catch (err) {
      // Never rethrow: nothing awaits this promise, and a rejection nobody handles fails the workflow task.
      if (isCancellation(err) && CancellationScope.current().consideredCancelled) return;
      shardFailed(id, String((err as Error)?.message ?? err));
      return;
    }
    shardSucceeded(id, result);
  };

  // The shard queue's activities (control process): a redrive's, and a run's wait for the shards it
  // inherited. Both wait for shards, so one set of options (creating the proxy records nothing).
  const { redriveShard, awaitShards } = proxyActivities<RedriveActivities>({
    taskQueue: shardRedriveTaskQueue(app),
    // They wait for shards: long, but a lost control process is noticed by the missing heartbeat.
    startToCloseTimeout: '1d',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', maximumInterval: '1m' }, // ShardFailed, ShardNotFound are non-retryable; ShardWaitFailed retries
  });

  /** Runs failed shard `id` again (redriveShard: signal, restart or take its result) and counts how it ends. */
  const redriveOne = async (id: string, n: number): Promise<void> => {
    const scope = new CancellationScope();
    running.set(id, n);
    redriving.set(id, scope);
    let result: unknown;
    try {
      for (let tries = 1; ; tries++) {
        const outcome = await scope.run(() => redriveShard({ taskId: id }));
        if (outcome.kind === 'succeeded') {
          result = outcome.result;
          break;
        }
        // Closed for good: started again as this run's child, so a dead letter reaches this run.
        try {
          const handle = await startChild(runTask, {
            workflowId: id,
            taskQueue: info.taskQueue,
            args: [{ type: childType, input: outcome.input, lane, tenant: task.tenant }, shardResolution()],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
            priority: { priorityKey: LANE_PRIORITY_KEY[lane] },
            typedSearchAttributes: shardAttributes,
            ...shardMetadata(n, ` (redrive ${c.redrive?.round ?? 1})`),
          });
          result = await handle.result();
          break;
        } catch (err) {
          // Someone started it meanwhile: the next redriveShard waits for that run instead.
          if (!(err instanceof WorkflowExecutionAlreadyStartedError) || tries >= 3) throw err;
        }
      }
    } catch (err) {
      if (isCancellation(err) && CancellationScope.current().consideredCancelled) return; // the batch was cancelled
      redriveFailed(id, String((err as Error)?.message ?? err)); // a no-op when its dead letter was counted
      return;
    }
    if (!redriving.delete(id) || !c.redrive) return; // it dead-lettered, then was redriven by hand: counted failed
    running.delete(id);
    c.redrive.succeeded += 1;
    c.done += 1;
    c.failed -= 1;
    c.failedShards = c.failedShards.filter((f) => f !== id);
    results.push(result);
    resultBytes += JSON.stringify(result ?? null).length;
  };

  /** Waits for the shards the previous run left running, settling each as it closes. */
  const awaitInherited = async (): Promise<void> => {
    while (inherited.size > 0 && canContinue()) {
      const scope = new CancellationScope();
      inheritedWait = scope;
      let settled: SettledShard[];
      try {
        settled = await scope.run(() => awaitShards({ taskIds: [...inherited] }));
      } catch (err) {
        if (isCancellation(err)) {
          if (CancellationScope.current().consideredCancelled) return; // the batch is cancelled
          continue; // a shard dead-lettered (its signal cancelled the wait): ask again without it
        }
        // Unreachable with unlimited retries; should a policy end them, fail the shards, never hang.
        for (const id of [...inherited]) {
          inherited.delete(id);
          shardFailed(id, `waiting for it failed: ${String((err as Error)?.message ?? err)}`);
        }
        return;
      }
      for (const r of settled) {
        if (!inherited.delete(r.taskId)) continue;
        if (r.ok) shardSucceeded(r.taskId, r.result);
        else shardFailed(r.taskId, r.error);
      }
    }
  };

  /** Redrive mode: every failed shard of the finished batch again, at most maxParallel at once. */
  const redriveFailedShards = async (r: BatchRedrive): Promise<void> => {
    state.redrives = r.round;
    c.startedAt ??= iso(Date.now());
    state.timestamps.startedAt = c.startedAt;
    setStatus('running');
    log.info('redriving failed shards', { shards: r.shards.length - r.next, round: r.round });
    const full = (): boolean => results.length >= REDUCE_PAGE_ITEMS || resultBytes >= REDUCE_PAGE_BYTES;
    while (r.next < r.shards.length || running.size > 0) {
      if (full()) {
        await reduceBuffered();
        continue;
      }
      if (r.next >= r.shards.length) {
        await condition(() => running.size === 0 || full());
        continue;
      }
      await condition(() => running.size < b.maxParallel || full());
      if (running.size >= b.maxParallel) continue;
      const id = r.shards[r.next] ?? '';
      r.next += 1;
      const n = shardNumberOf(info.workflowId, id);
      // Only this batch's own shards (the carry may come from a plain Temporal client).
      if (n === undefined) {
        r.failed += 1;
        log.warn('not a shard of this batch; left failed', { shard: id });
        continue;
      }
      void redriveOne(id, n);
    }
  };

  /** Asks every running shard to cancel (fail_fast, or the batch itself cancelled); waits for none. */
  const cancelRunning = async (): Promise<void> => {
    await Promise.all(
      [...running.keys()].map((id) =>
        getExternalWorkflowHandle(id)
          .cancel()
          .catch(() => undefined),
      ),
    );
  };

  const canContinue = (): boolean => !stop;

  try {
    if (c.redrive) await redriveFailedShards(c.redrive);
    if (c.inflight?.length) {
      for (const { id, n } of c.inflight) {
        running.set(id, n);
        inherited.add(id);
      }
      delete c.inflight;
      void awaitInherited();
    }
    let startedThisRun = 0;
    for (;;) {
      if (!canContinue()) break;
      if (results.length >= REDUCE_PAGE_ITEMS || resultBytes >= REDUCE_PAGE_BYTES) {
        await reduceBuffered();
        continue;
      }
      if (c.pending.length === 0 && c.splitDone) break;
      // 2. History stays bounded: after `shardsPerRun` starts (or when Temporal suggests it),
      // reduce what came back and continue as new, handing the running shards to the next run
      // (runs from before that patch drained them first, and parallelism dipped at each).
      if (startedThisRun > 0 && (startedThisRun >= b.shardsPerRun || workflowInfo().continueAsNewSuggested)) {
        if (patched(CONTINUE_WITHOUT_DRAIN)) {
          for (;;) {
            await condition(() => starting.size === 0);
            if (results.length === 0 && c.hasAcc) break;
            await reduceBuffered();
          }
          if (!canContinue()) break;
          // Synchronous from the check above to the continue-as-new: every shard is either counted
          // and reduced, or in `inflight` (a result that lands later is fetched by the next run).
          c.inflight = [...running].map(([id, n]) => ({ id, n }));
        } else {
          await condition(() => running.size === 0 || !canContinue());
          if (!canContinue()) break;
          await reduceBuffered();
        }
        const next = makeContinueAsNewFunc<typeof runBatch>({
          typedSearchAttributes: taskAttributePairs({
            type: task.type,
            group: task.group,
            lane,
            tenant: task.tenant,
            status: state.status,
          }),
        });
        return await next(envelope, { ...task, attributesAtStart: true }, c);
      }
      if (c.pending.length === 0) {
        const page = await splitBatch({
          taskId: info.workflowId,
          type: task.type,
          input: task.input,
          lane,
          tenant: task.tenant,
          cursor: c.cursor,
          pageSize: b.pageSize,
        });
        c.pending = page.shards;
        c.cursor = page.cursor;
        c.splitDone = page.done;
        continue;
      }
      // 3. At most maxParallel shards at once.
      await condition(
        () => running.size < b.maxParallel || !canContinue() || results.length >= REDUCE_PAGE_ITEMS || resultBytes >= REDUCE_PAGE_BYTES,
      );
      if (!canContinue() || running.size >= b.maxParallel) continue;
      const n = c.next;
      const desc = c.pending.shift();
      c.next += 1;
      startedThisRun += 1;
      if (state.status === 'queued') {
        c.startedAt ??= iso(Date.now());
        state.timestamps.startedAt = c.startedAt;
        setStatus('running');
      }
      void runShard(n, desc);
    }

    if (stop === 'fail_fast') {
      await cancelRunning();
      state.timestamps.finishedAt = iso(Date.now());
      setStatus('failed');
      throw ApplicationFailure.create({
        type: 'BatchFailed',
        message: `batch failed: shard ${c.failedShards[0] ?? '?'} failed for good (onShardFailure fail_fast); ${running.size} running shard(s) cancelled`,
        nonRetryable: true,
        details: [{ failedShards: c.failedShards }],
      });
    }
    // 4. Every shard started: wait for the last ones, reduce the rest.
    await condition(() => running.size === 0 || results.length >= REDUCE_PAGE_ITEMS);
    while (running.size > 0) {
      await reduceBuffered();
      await condition(() => running.size === 0 || results.length >= REDUCE_PAGE_ITEMS || !canContinue());
      if (!canContinue()) {
        await cancelRunning();
        state.timestamps.finishedAt = iso(Date.now());
        setStatus('failed');
        throw ApplicationFailure.create({
          type: 'BatchFailed',
          message: `batch failed: shard ${c.failedShards[0] ?? '?'} failed for good (onShardFailure fail_fast)`,
          nonRetryable: true,
          details: [{ failedShards: c.failedShards }],
        });
      }
    }
    await reduceBuffered();
    const out: BatchResult = {
      output: c.acc,
      total: c.next,
      succeeded: c.done,
      failed: c.failed,
      failedShards: c.failedShards,
      ...(c.redrive ? { redriven: c.redrive.redrivenBefore + c.redrive.succeeded } : {}),
    };
    state.result = out;
    state.timestamps.finishedAt = iso(Date.now());
    setStatus('succeeded');
    return out;
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        await cancelRunning();
        state.timestamps.finishedAt = iso(Date.now());
        setStatus('cancelled');
      });
    } else if (err instanceof ActivityFailure && state.status !== 'failed') {
      // The split or reduce failed for good (its retries are spent): the batch fails with the
      // handler's own message in its state and its failure, not Temporal's "Activity task failed".
      const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
      const step = err.activityType === 'reduceBatch' ? 'reduce' : err.activityType === 'splitBatch' ? 'split' : err.activityType;
      const message = `batch failed: ${step} failed: ${cause?.message ?? err.message}`;
      state.lastError = { type: cause?.type ?? 'Error', class: 'non_retryable', message, attempt: 0 };
      await cancelRunning();
      state.timestamps.finishedAt = iso(Date.now());
      setStatus('failed');
      throw ApplicationFailure.create({ type: 'BatchFailed', message, nonRetryable: true, cause: err });
    }
    throw err;
  }
}
