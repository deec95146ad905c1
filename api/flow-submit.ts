import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowStartOptions,
} from '@temporalio/client';
import type { Catalog, CompiledTask } from '../config/catalog-schema';
import { CONFLICT_DEFAULTS, effectiveConflict, type OnConflict } from '../config/conflict';
import { keyIdOf, type DebounceSpec, type DebounceSubmit } from '../config/debounce';
import { debounceSubmitSignal, debounceViewQuery, type DebounceView } from '../config/messages';
import { ValidationError } from '../config/errors';
import type { ResolvedTask, TaskEnvelope } from '../config/envelope';
import { DEBOUNCE_WORKFLOW, debounceCollectorOf, debounceWindowId, debounceWorkflowId, TASK_WORKFLOW_TYPES } from '../config/names';
import { SA_KEYS } from '../config/search-attributes';
import { temporal } from '@temporalio/proto';
import type { TaskState } from '../config/task-state';
import type { Duration } from '../config/duration';
import { parseDuration } from '../config/duration';

/** The flow-control part of a submit (README "Flow control"): each overrides the type's declaration. */
export interface FlowSubmitOptions {
  /** What to do when a task with this ID is open. @default the type's `onConflict`, else 'skip' */
  onConflict?: OnConflict;
  /** Refuse the ID for this long after its task closed (even after success), then allow it again. */
  dedupeFor?: Duration;
  /** Debounce this submit under `key` (a type without `debounce` needs `period` and `maxWait` too). */
  debounce?: DebounceSubmit;
  /** Fairness weight inside the lane (normally the tenant's plan decides; config/plans.ts). */
  fairnessWeight?: number;
}

/** What a submit reports besides `taskId`/`status`/`duplicate` when a flow mode acted. */
export interface FlowSubmitReport {
  /** The task that was open under this ID and was cancelled (cancel_running, replace_queued) for this one. */
  replaced?: { runId: string; how: 'cancelled' | 'terminated' };
  /** A debounced submit: its window (whose task ID is `taskId`) as the collector sees it now. */
  debounce?: DebounceView;
}

/** This submit's debounce settings, or undefined when it is not debounced. */
export function debounceSpecOf(task: CompiledTask, input: unknown, over: DebounceSubmit | undefined): DebounceSpec | undefined {
  const d = task.debounce;
  if (!d && !over) return undefined;
  const periodMs = over?.period !== undefined ? parseDuration(over.period) : d?.periodMs;
  const maxWaitMs = over?.maxWait !== undefined ? parseDuration(over.maxWait) : d?.maxWaitMs;
  if (periodMs === undefined || maxWaitMs === undefined) {
    throw new ValidationError([{ path: 'debounce', message: `${task.name} declares no debounce: give period and maxWait with the key` }]);
  }
  if (maxWaitMs < periodMs) throw new ValidationError([{ path: 'debounce.maxWait', message: 'maxWait must be >= period' }]);
  const key = over?.key ?? d!.key(input);
  if (typeof key !== 'string' || key.length === 0) {
    throw new ValidationError([{ path: 'debounce.key', message: `the debounce key of ${task.name} must be a non-empty string` }]);
  }
  return { key, periodMs, maxWaitMs, collect: over?.collect ?? d?.collect ?? false };
}

/** The task ID a singleton type derives from its input (`<type>:<key>`), when it declares `singletonKey`. */
export function singletonIdOf(task: CompiledTask, input: unknown): string | undefined {
  return task.singletonKey ? `${task.name}:${keyIdOf(task.singletonKey(input))}` : undefined;
}

/**
 * Puts one submit into its debounce window by signal-with-start on the (tenant, type, key)
 * collector, then asks the collector which window took it: that window's task ID is what the
 * caller follows (`get` shows it `debouncing` until its run starts, then as any task).
 */
export async function submitDebounced(
  temporal: Client,
  catalog: Catalog,
  resolved: ResolvedTask,
  envelope: TaskEnvelope,
  spec: DebounceSpec,
  fairnessWeight: number | undefined,
): Promise<{ taskId: string; view: DebounceView }> {
  const keyId = keyIdOf(spec.key);
  const collectorId = debounceWorkflowId(resolved.tenant, resolved.type, keyId);
  const submitId = randomUUID();
  // Used only if this submit opens the collector; otherwise the open window keeps its own ID.
  const windowId = debounceWindowId(resolved.tenant, resolved.type, keyId, submitId.slice(0, 8));
  const { delay: _delay, ...rest } = envelope;
  await temporal.workflow.signalWithStart(DEBOUNCE_WORKFLOW, {
    workflowId: collectorId,
    taskQueue: catalog.controlQueue,
    args: [{ type: resolved.type, spec, windowId }],
    signal: debounceSubmitSignal,
    signalArgs: [
      { submitId, envelope: { ...rest, type: resolved.type }, ...(fairnessWeight !== undefined ? { fairnessWeight } : {}), at: Date.now() },
    ],
  });
  // Queries are consistent with the signal just written: the answer already counts this submit.
  const view = await temporal.workflow.getHandle(collectorId).query(debounceViewQuery, submitId);
  return { taskId: view.windowOfSubmit ?? view.windowId, view };
}

/** The state of a debounce window whose run has not started yet, or undefined. */
export async function debouncingState(temporal: Client, catalog: Catalog, taskId: string, tenant?: string): Promise<TaskState | undefined> {
  const c = debounceCollectorOf(taskId);
  if (!c || (tenant !== undefined && c.tenant !== tenant)) return undefined;
  let view: DebounceView;
  try {
    const h = temporal.workflow.getHandle(c.workflowId);
    const d = await h.describe();
    if (d.type !== DEBOUNCE_WORKFLOW || d.taskQueue !== catalog.controlQueue || d.status.name !== 'RUNNING') return undefined;
    view = await h.query(debounceViewQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  const mine = view.windowId === taskId;
  if (!mine && view.nextWindowId !== taskId) return undefined;
  const task = catalog.get(c.type);
  const waiting = mine
    ? debounceReason(view)
    : `debouncing: waiting for window ${view.windowId} to start, then opens with ${view.nextSubmits} submit(s)`;
  return {
    taskId,
    type: c.type,
    status: 'debouncing',
    attempts: 0,
    lane: task?.lane ?? null,
    group: task?.group ?? null,
    tenant: c.tenant,
    paused: false,
    promotions: [],
    redrives: 0,
    waiting,
    debounce: {
      key: view.key,
      submits: mine ? view.submits : view.nextSubmits,
      ...(mine && view.startsAt ? { startsAt: view.startsAt } : {}),
      ...(mine && view.latestAt ? { latestAt: view.latestAt } : {}),
    },
    timestamps: { submittedAt: view.firstAt ?? new Date().toISOString() },
  };
}

/** "debouncing: 12 submits, starts in 20 s or by 12:05:00 at the latest". */
export function debounceReason(view: Pick<DebounceView, 'submits' | 'startsAt' | 'latestAt' | 'phase'>, now = Date.now()): string {
  if (view.phase === 'starting') return `debouncing: window closed with ${view.submits} submit(s), starting its run`;
  const inS = view.startsAt ? Math.max(0, Math.ceil((Date.parse(view.startsAt) - now) / 1000)) : undefined;
  const by = view.latestAt ? new Date(view.latestAt).toISOString().slice(11, 19) : undefined;
  return `debouncing: ${view.submits} submit(s)${inS !== undefined ? `, starts in ${inS} s` : ''}${by ? ` or by ${by} UTC at the latest` : ''}`;
}

/**
 * Starts a task under its conflict mode (config/conflict.ts). Returns whether it started, and what
 * it replaced; `duplicate` when the existing task stands (skip, a running task under replace_queued,
 * a closed success inside `dedupeFor` or, without `dedupeFor`, any closed success).
 */
export async function startWithConflict(
  temporal: Client,
  task: CompiledTask,
  workflowType: string,
  options: WorkflowStartOptions,
  submit: { onConflict?: OnConflict; dedupeFor?: Duration },
): Promise<{ duplicate: boolean; replaced?: FlowSubmitReport['replaced'] }> {
  const dedupeForMs = submit.dedupeFor !== undefined ? parseDuration(submit.dedupeFor) : undefined;
  const mode = effectiveConflict(
    task.onConflict !== undefined || task.dedupeForMs !== undefined
      ? {
          onConflict: task.onConflict ?? CONFLICT_DEFAULTS.onConflict,
          ...(task.dedupeForMs !== undefined ? { dedupeForMs: task.dedupeForMs } : {}),
        }
      : undefined,
    { ...(submit.onConflict ? { onConflict: submit.onConflict } : {}), ...(dedupeForMs !== undefined ? { dedupeForMs } : {}) },
  );
  const id = options.workflowId;
  const handle = temporal.workflow.getHandle(id);
  let opts = options;
  if (mode.dedupeForMs !== undefined) {
    // Temporal's reuse policies know no time window: read the closed run's close time instead, and
    // let a new run start (ALLOW_DUPLICATE) once the window passed. Visibility of that run ends with
    // the namespace's retention, so the window is at most the retention.
    const last = await handle.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    if (last && last.status.name === 'COMPLETED' && last.closeTime && last.closeTime.getTime() + mode.dedupeForMs > Date.now()) {
      return { duplicate: true };
    }
    opts = { ...options, workflowIdReusePolicy: 'ALLOW_DUPLICATE' };
  }
  try {
    await temporal.workflow.start(workflowType, opts);
    return { duplicate: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  // The ID is taken: by an open task, or by a closed success the reuse policy protects.
  const d = await handle.describe();
  if (d.status.name !== 'RUNNING' || mode.onConflict === 'skip' || !TASK_WORKFLOW_TYPES.includes(d.type)) return { duplicate: true };
  if (mode.onConflict === 'replace_queued' && !notStarted(d)) return { duplicate: true };
  // Cancel (the task ends `cancelled`, a running handler sees its AbortSignal), wait for it to close,
  // then start; TERMINATE_EXISTING ends one that did not close within the grace.
  await handle.cancel();
  const deadline = Date.now() + CONFLICT_DEFAULTS.cancelGraceMs;
  let closed = false;
  while (Date.now() < deadline) {
    const now = await temporal.workflow.getHandle(id, d.runId).describe();
    if (now.status.name !== 'RUNNING') {
      closed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await temporal.workflow.start(workflowType, {
    ...opts,
    workflowIdConflictPolicy: 'TERMINATE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  return { duplicate: false, replaced: { runId: d.runId, how: closed ? 'cancelled' : 'terminated' } };
}

/**
 * True when the task's handler has not started: its status is still scheduled or queued, and the
 * server knows of no started attempt (the `running` status comes a moment after the start, so the
 * pending activity's own state decides).
 */
function notStarted(d: WorkflowExecutionDescription): boolean {
  const status = d.typedSearchAttributes.get(SA_KEYS.TaskStatus);
  if (status !== 'scheduled' && status !== 'queued') return false;
  const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  return !(d.raw.pendingActivities ?? []).some((a) => a.state === STARTED || (a.attempt ?? 1) > 1);
}
