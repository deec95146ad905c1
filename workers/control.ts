import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { ApplicationFailure, type DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { TaskSchedules } from '../api/schedules';
import type { Logger } from '../config/log';
import { createCallbackActivities } from '../activities/callback';
import { createControlActivities } from '../activities/execute';
import { createDebounceActivities } from '../activities/debounce';
import { createIntakeActivities, type StartPacer } from '../activities/intake';
import { createRedriveActivities } from '../activities/redrive';
import { flowTaskQueue, intakeTaskQueue, shardRedriveTaskQueue, type Lane } from '../config/names';
import type { Catalog } from '../config/catalog-schema';
import type { Settings } from '../config/settings';
import { controlDeployment, describeDeployment, setCurrentVersion } from '../temporal/deployments';
import { WORKFLOW_TRACING_MODULE, type Tracing } from '../temporal/tracing';

/** Where `npm run build` writes the pre-bundled workflow code (saves seconds at every start). */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');
/** The same with OpenTelemetry's workflow interceptors, for a control worker with tracing on. */
export const WORKFLOW_BUNDLE_TRACED_PATH = join(__dirname, '..', 'workflow-bundle-traced.js');

/** The workflow code a worker runs: the pre-built bundle when there is one (with tracing's interceptors, if on). */
function workflowCode(tracing: Tracing | undefined) {
  const bundle = tracing ? WORKFLOW_BUNDLE_TRACED_PATH : WORKFLOW_BUNDLE_PATH;
  return existsSync(bundle)
    ? { workflowBundle: { codePath: bundle } }
    : {
        workflowsPath: require.resolve('../workflows'),
        ...(tracing ? { interceptors: { workflowModules: [WORKFLOW_TRACING_MODULE] } } : {}),
      };
}

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  catalog: Catalog;
  /** @default the catalog's control queue, `tideway[.<app>].control` */
  taskQueue?: string;
  /**
   * Join the `tideway[-<app>]-control` Worker Deployment as this build (worker versioning). Unset: an
   * unversioned worker, which gets tasks only while the deployment has no current version.
   */
  version?: ControlVersion | undefined;
  /** Payload codecs (`dataConverterOf(settings)`: encryption). @default none, payloads in the clear */
  dataConverter?: DataConverter;
  /** Where `runTask` reports each task's wait for its first workflow task (the admission gate). */
  onFirstTaskWait?: (lane: Lane, ms: number) => void;
  /** Trace workflows (the process's `installTracing`): continue each submit's trace and pass it to the activity. @default off */
  tracing?: Tracing | undefined;
}

export interface ControlVersion {
  buildId: string;
  /**
   * AUTO_UPGRADE (default): running tasks move to the new current build at their next workflow
   * task, so new code must replay old histories (CI's replay tests, `patched()`). PINNED: a task
   * finishes on the build it started on, so old builds must keep running until drained.
   */
  behavior: 'AUTO_UPGRADE' | 'PINNED';
}

/**
 * The control worker: runs `runTask` workflows and the envelope-resolving local activity. It runs
 * no handlers, so tasks are accepted, expired and dead-lettered even when every pool is at zero.
 */
export async function createControlWorker(opts: ControlWorkerOptions): Promise<Worker> {
  const { tracing } = opts;
  const code = workflowCode(tracing);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? opts.catalog.controlQueue,
    ...code,
    dataConverter: opts.dataConverter ?? {},
    activities: { ...createControlActivities(opts.catalog), ...createDebounceActivities(opts.catalog) },
    // The control worker never runs remote activities, only local ones.
    enableNonLocalActivities: false,
    sinks: {
      ...(tracing ? tracing.workflowSinks() : {}),
      admission: {
        firstTaskWait: { fn: (_info: unknown, lane: Lane, ms: number) => opts.onFirstTaskWait?.(lane, ms), callDuringReplay: false },
      },
    },
    ...(opts.version
      ? {
          workerDeploymentOptions: {
            version: { deploymentName: controlDeployment(opts.catalog.app), buildId: opts.version.buildId },
            useWorkerVersioning: true,
            defaultVersioningBehavior: opts.version.behavior,
          },
        }
      : {}),
  });
}

/**
 * The flow worker, in the control process: runs the per-key limiters (`flowLimiter`) on their own
 * queue, with workflow-task slots of their own. A task asks its limiter from a local activity while
 * its workflow task is open (config/names.ts `flowTaskQueue`); on the control worker, a limiter's
 * workflow task could wait for a slot held by the very tasks waiting for its answer.
 */
export async function createFlowWorker(
  opts: Pick<ControlWorkerOptions, 'connection' | 'namespace' | 'catalog' | 'dataConverter'>,
): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: flowTaskQueue(opts.catalog.app),
    // Never traced: OpenTelemetry's workflow interceptor completes every update a few microtasks
    // later than the plain code does, so a limiter recorded one way does not replay the other
    // (test/unit/replay.test.ts pins it), and turning tracing on or off would break every open
    // limiter. A limiter's spans would say little anyway; the tasks it serves keep theirs.
    ...workflowCode(undefined),
    dataConverter: opts.dataConverter ?? {},
    enableNonLocalActivities: false,
  });
}

/**
 * The callback worker, in the control process: delivers result callbacks (HTTP, so a real
 * activity on its own queue, retried by Temporal) without touching any pool's capacity.
 */
export async function createCallbackWorker(
  opts: Pick<ControlWorkerOptions, 'connection' | 'namespace' | 'catalog' | 'dataConverter'> & {
    /** Signing secrets and allowlist. @default the process's settings (TIDEWAY_CALLBACK_SECRETS, TIDEWAY_CALLBACK_ALLOWLIST) */
    callbacks?: Settings['callbacks'];
  },
): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.catalog.callbackQueue,
    dataConverter: opts.dataConverter ?? {},
    activities: { deliverCallback: withFailureTypes(createCallbackActivities(opts.callbacks ?? {}).deliverCallback) },
    maxConcurrentActivityTaskExecutions: 50,
  });
}

/**
 * The intake worker, in the control process: runs the bulk intake's `startTasks` slices, which
 * start task workflows at the rate `pacer` (the process's admission gate) allows. Slices mostly
 * wait for the gate, so many may be open at once; each chunk has at most one.
 */
export async function createIntakeWorker(
  opts: Pick<ControlWorkerOptions, 'connection' | 'namespace' | 'catalog' | 'dataConverter'> & {
    pacer: StartPacer;
    maxConcurrentSlices?: number;
  },
): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: intakeTaskQueue(opts.catalog.app),
    dataConverter: opts.dataConverter ?? {},
    activities: createIntakeActivities({ catalog: opts.catalog, pacer: opts.pacer }),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentSlices ?? 64,
  });
}

/**
 * The shard redrive worker, in the control process: a batch redrive's `redriveShard` activities,
 * which mostly wait for a redriven shard's result (a long poll each), so many may be open at once
 * and none holds a pool slot the shard itself needs.
 */
export async function createRedriveWorker(
  opts: Pick<ControlWorkerOptions, 'connection' | 'namespace' | 'catalog' | 'dataConverter'> & { maxConcurrent?: number },
): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: shardRedriveTaskQueue(opts.catalog.app),
    dataConverter: opts.dataConverter ?? {},
    activities: createRedriveActivities(),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrent ?? 200,
  });
}

/**
 * Makes the server's Tideway schedules match the catalog at control-worker start (the catalog is
 * the source of truth). Idempotent, so several control replicas may run it; a failure is logged,
 * not fatal: tasks keep flowing even if a schedule could not be synced.
 */
export async function syncSchedules(client: Client, catalog: Catalog, log: Logger): Promise<void> {
  try {
    const report = await new TaskSchedules(client, catalog.app).sync(catalog);
    log.info({ event: 'schedules:synced', ...report }, 'catalog schedules synced');
  } catch (err) {
    log.error({ event: 'schedules:sync-failed', err: String(err) }, 'could not sync catalog schedules');
  }
}

/**
 * Worker-versioning housekeeping at control start: with `promote`, makes this build current once
 * its worker has polled (a version exists only after that); otherwise says where new tasks go when
 * this worker would not receive them, so a stuck rollout is explained in the log, not guessed at.
 */
export async function checkRouting(
  connection: Connection,
  namespace: string,
  buildId: string | undefined,
  promote: boolean,
  log: Logger,
  deploymentName = controlDeployment(),
): Promise<void> {
  try {
    if (buildId && promote) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await setCurrentVersion(connection, namespace, buildId, deploymentName);
          log.info({ event: 'versioning:promoted', buildId }, `build ${buildId} is the current control version`);
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
    const d = await describeDeployment(connection, namespace, deploymentName);
    const current = d?.currentBuildId;
    if (current === buildId) return;
    if (!buildId && current) {
      log.warn(
        { event: 'versioning:not-routed', current },
        `new tasks go to control build ${current}, not to this unversioned worker; ` +
          'run `npx tideway versions unversioned` to route them here, or start with TIDEWAY_BUILD_ID',
      );
    } else if (buildId) {
      log.info(
        { event: 'versioning:registered', buildId, current: current ?? null },
        `build ${buildId} polls; new tasks go to ${current ? `build ${current}` : 'unversioned workers'} until \`npx tideway versions promote ${buildId}\``,
      );
    }
  } catch (err) {
    log.error({ event: 'versioning:check-failed', err: String(err) }, 'could not check worker-versioning routing');
  }
}

/**
 * The SDK turns a plain Error into a retryable failure; map Tideway's `NonRetryableError` (matched
 * on its stable `type`) to a non-retryable ApplicationFailure so refused URLs are not retried.
 */
function withFailureTypes<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      const type = (err as { type?: unknown }).type;
      if (typeof type === 'string') {
        throw ApplicationFailure.create({ type, message: (err as Error).message, nonRetryable: type === 'NonRetryableError' });
      }
      throw err;
    }
  };
}
