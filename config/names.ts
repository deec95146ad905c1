/**
 * Names that Tideway's processes and other tools agree on: queues, workflow and activity names,
 * statuses and lanes. Defined once here and imported by every side. The messages of `runTask` are
 * in config/messages.ts, its search attributes in config/search-attributes.ts.
 *
 * This module is imported by workflow code, so it must stay free of Node built-ins and side effects.
 */

/** Task queue that runs only workflow code (and the envelope-resolving local activity). */
export const CONTROL_TASK_QUEUE = 'tideway.control';

/**
 * An app name keeps several Tideway projects apart on one Temporal namespace: each app's queues
 * carry it (`tideway.<app>.control`, `tideway.<app>.<group>.<lane>`). No app = the names above.
 */
export const APP_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** What an invalid app name is told. */
export const APP_NAME_RULE = 'must be 1-40 lowercase letters, digits and dashes, starting with a letter';

/** The control queue of `app` (`tideway.control` when there is none). */
export function controlTaskQueue(app?: string): string {
  return app ? `tideway.${app}.control` : CONTROL_TASK_QUEUE;
}

/** The app a control queue belongs to (undefined for `tideway.control` or a queue of another shape). */
export function appOfControlQueue(taskQueue: string): string | undefined {
  const app = /^tideway\.(.+)\.control$/.exec(taskQueue)?.[1];
  return app !== undefined && APP_NAME.test(app) ? app : undefined;
}

/** Workflow type every task runs as. */
export const RUN_TASK_WORKFLOW = 'runTask';

/** Workflow type a batch task (`defineBatchTask`) runs as: the parent of its shard tasks. */
export const RUN_BATCH_WORKFLOW = 'runBatch';

/** Workflow types a task ID may belong to. */
export const TASK_WORKFLOW_TYPES: readonly string[] = [RUN_TASK_WORKFLOW, RUN_BATCH_WORKFLOW];

/**
 * Workflow ID (= task ID) of shard `n` of batch task `taskId`. `/` is outside the task-ID alphabet,
 * so no submitted task can ever take a shard's ID (as `~` keeps bulk chunks apart), and a shard's
 * ID names its batch.
 */
export function shardTaskId(taskId: string, n: number): string {
  return `${taskId}/shard-${n}`;
}

/** Activity that runs a task's handler on its pool's queue. */
export const EXECUTE_TASK_ACTIVITY = 'executeTask';

/** Local activity on the control worker that validates an envelope against the catalog. */
export const RESOLVE_TASK_ACTIVITY = 'resolveTask';

export const LANES = ['high', 'normal', 'low'] as const;
export type Lane = (typeof LANES)[number];

/**
 * Temporal priority key per lane (lower is dispatched first; server levels 1..5, default 3). The
 * control queue is shared by every lane, so this keeps a high-lane task's workflow tasks ahead of a
 * low-lane flood's there (needs the server's new matcher, which the dev server enables).
 */
export const LANE_PRIORITY_KEY: Readonly<Record<Lane, number>> = { high: 1, normal: 3, low: 5 };

/** The activity task queue of the pool serving (group, lane) of `app`. */
export function poolTaskQueue(group: string, lane: Lane, app?: string): string {
  return app ? `tideway.${app}.${group}.${lane}` : `tideway.${group}.${lane}`;
}

export const TASK_STATUSES = [
  // Accepted by a bulk intake and not started yet: reported by `get`, never stored on a workflow.
  'accepted',
  // A debounce window collecting submits (config/debounce.ts): reported by `get`, never stored on a task workflow.
  'debouncing',
  'scheduled',
  'queued',
  'running',
  'retrying',
  'paused',
  'succeeded',
  'dead_lettered',
  'failed',
  'expired',
  'cancelled',
  // A new run of a task ID whose earlier run succeeded (a plain client's start): no handler ran.
  'duplicate',
  // Over its type's per-key rate limit in `drop` mode: no handler ran; the ID may be submitted again.
  'throttled_dropped',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses after which a task does nothing more by itself. */
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'expired', 'cancelled', 'duplicate', 'throttled_dropped'];

/** Tenant recorded when a submit names none (plain Temporal client starts, local tools). */
export const DEFAULT_TENANT = 'default';

/** Task queue of the callback-delivery activity (hosted by the control worker). */
export const CALLBACK_TASK_QUEUE = 'tideway.callbacks';

/** The callback queue of `app`. */
export function callbackTaskQueue(app?: string): string {
  return app ? `tideway.${app}.callbacks` : CALLBACK_TASK_QUEUE;
}

/** Workflow type of one bulk chunk's intake: starts the chunk's task workflows at the admitted rate. */
export const BULK_INTAKE_WORKFLOW = 'bulkIntake';

/** Activity of `bulkIntake` that starts task workflows (runs on the intake queue). */
export const START_TASKS_ACTIVITY = 'startTasks';

/**
 * Task queue of `redriveShard` (hosted by the control process): a batch redrive's activity that
 * redrives one failed shard and waits for it, so no pool slot is held while the shard runs.
 */
export function shardRedriveTaskQueue(app?: string): string {
  return app ? `tideway.${app}.redrive` : 'tideway.redrive';
}

/**
 * Task queue of the per-key flow limiters (`flowLimiter`, hosted by the control process on a worker
 * of its own). Apart from `runTask`'s queue because a task asks its limiter from a local activity
 * (update-with-start) while its own workflow task is open: a limiter sharing the control worker's
 * workflow-task slots could wait behind the very tasks that wait for it.
 */
export function flowTaskQueue(app?: string): string {
  return app ? `tideway.${app}.flow` : 'tideway.flow';
}

/** Task queue of the intake activity (hosted by the control process). */
export function intakeTaskQueue(app?: string): string {
  return app ? `tideway.${app}.intake` : 'tideway.intake';
}

/**
 * Workflow ID of chunk `n` of a bulk. `~` is not allowed in task IDs, so a chunk can never take a
 * task's ID (both are workflow IDs in one namespace).
 */
export function bulkChunkWorkflowId(bulkId: string, n: number): string {
  return `${bulkId}~${n}`;
}

/** Tasks per intake chunk: one Temporal start each; its items (input included) sit in that start's history. */
export const INTAKE_CHUNK_SIZE = 500;

/**
 * Workflow type of the admission registry (workflows/admission-registry.ts): the processes that
 * share a fixed lane admission budget check in with it, and each takes budget / live members.
 */
export const ADMISSION_REGISTRY_WORKFLOW = 'admissionRegistry';

/** Workflow ID of the admission registry of `app` (one per app: each app has its own lanes and budget). */
export function admissionRegistryId(app?: string): string {
  return app ? `tideway.${app}.admission-registry` : 'tideway.admission-registry';
}

/** Workflow type of a debounce window (workflows/debounce-task.ts): collects submits, then starts the task. */
export const DEBOUNCE_WORKFLOW = 'debounceTask';

/**
 * Workflow ID of the debounce collector of (tenant, type, key): `debounce~<tenant>~<type>~<keyId>`.
 * `~` is not allowed in task IDs, so a collector can never take a task's ID.
 */
export function debounceWorkflowId(tenant: string, type: string, keyId: string): string {
  return `debounce~${tenant}~${type}~${keyId}`;
}

/** Task ID of one debounce window's run: `<type>:<tenant>:<keyId>:<suffix>` (a valid task ID). */
export function debounceWindowId(tenant: string, type: string, keyId: string, suffix: string): string {
  return `${type}:${tenant}:${keyId}:${suffix}`;
}

/** The collector a window's task ID belongs to, or undefined when `taskId` is no window's. */
export function debounceCollectorOf(taskId: string): { workflowId: string; tenant: string; type: string; keyId: string } | undefined {
  const parts = taskId.split(':');
  if (parts.length !== 4 || parts.some((p) => p.length === 0)) return undefined;
  const [type, tenant, keyId] = parts as [string, string, string, string];
  return { workflowId: debounceWorkflowId(tenant, type, keyId), tenant, type, keyId };
}
