import { Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Project } from '../config/load';
import { temporalAddressOf } from '../config/settings';
import { createLogger } from '../config/log';
import type { Lane } from '../config/names';
import { securityOptions } from '../temporal/connection';
import { dataConverterOf } from '../temporal/codec';
import { controlDeployment } from '../temporal/deployments';
import { connectWorker } from './connection';
import {
  checkRouting,
  createCallbackWorker,
  createControlWorker,
  createFlowWorker,
  createIntakeWorker,
  createRedriveWorker,
  syncSchedules,
} from './control';
import { Client } from '@temporalio/client';
import { createAdmission } from '../admission';
import { createPool } from './pool';
import { FileTaskLogStore } from '../config/task-log-file';
import { knownSecrets } from '../config/task-log';
import { installTracing } from '../temporal/tracing';

/**
 * The two worker roles as long-running functions, for `node dist/workers/main.js`, `tideway worker`
 * and `tideway/worker`. Each runs until SIGTERM/SIGINT: the worker stops polling, lets in-flight
 * work finish within the grace period, and returns. Each prints one JSON line with event
 * "worker:ready" once it polls, which parents and tests wait for.
 */

let runtimeInstalled = false;

/** Installs the SDK runtime (and tracing, when configured) once per process and connects the worker. */
async function connect(project: Project, role: string) {
  // SDK internals log warnings and errors only; Tideway's own events go through pino on stdout.
  const s = project.settings;
  if (!runtimeInstalled) install(s.sdkMetrics);
  const tracing = await installTracing(s.tracing.otlpEndpoint, `tideway-${role}`);
  const address = temporalAddressOf(s);
  return { address, namespace: s.namespace, tracing, connection: await connectWorker(address, 60_000, s) };
}

function install(sdkMetrics: string | undefined): void {
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    // The SDK's own metrics (poll and schedule-to-start latencies, slots, sticky cache) on a
    // Prometheus endpoint of their own, when asked for: they explain where a task's time goes.
    ...(sdkMetrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetrics } } } } : {}),
  });
}

/** Runs the control worker (workflows, the resolve step, callbacks) of `project` until stopped. */
export async function runControl(project: Project): Promise<void> {
  const { address, namespace, connection, tracing } = await connect(project, 'control');
  const { catalog } = project;
  const { settings } = project;
  const log = createLogger('tideway-control', settings.logLevel, catalog.app ? { app: catalog.app } : {});
  // Valid entries that will not behave as written (sub-second retry delays), once per start.
  for (const w of catalog.warnings) log.warn({ path: w.path }, `catalog: ${w.path}: ${w.message}`);
  const { buildId, versioningBehavior, promote } = settings.control;
  const version = buildId
    ? { buildId, behavior: versioningBehavior === 'pinned' ? ('PINNED' as const) : ('AUTO_UPGRADE' as const) }
    : undefined;
  // One client connection (the workers' own is a NativeConnection) for the admission gate's queue
  // stats and the start-up housekeeping.
  const clientConnection = await Connection.connect({ address, ...securityOptions(settings) });
  // Every client and worker of the process seals payloads alike (encryption, when keys are set).
  const dataConverter = dataConverterOf(settings);
  const client = new Client({ connection: clientConnection, namespace, dataConverter });
  // One admission gate for every intake slice of this process: the bulks' starts share one budget
  // per lane (fair between tenants), read from the same server-health signal as every other process.
  const pacer = createAdmission({ mode: settings.admission, client, catalog, log: log.child({ component: 'admission' }) });
  const worker = await createControlWorker({
    connection,
    namespace,
    catalog,
    dataConverter,
    version,
    onFirstTaskWait: (lane, ms) => pacer.observeFirstTaskWait(lane, ms),
    tracing,
  });
  const callbacks = await createCallbackWorker({ connection, namespace, catalog, dataConverter, callbacks: settings.callbacks });
  const intake = await createIntakeWorker({ connection, namespace, catalog, dataConverter, pacer });
  const redrive = await createRedriveWorker({ connection, namespace, catalog, dataConverter });
  const flow = await createFlowWorker({ connection, namespace, catalog, dataConverter });
  const running = Promise.all([worker.run(), callbacks.run(), intake.run(), redrive.run(), flow.run()]);
  await syncSchedules(client, catalog, log);
  await checkRouting(clientConnection, namespace, version?.buildId, promote, log, controlDeployment(catalog.app));
  announce({
    event: 'worker:ready',
    role: 'control',
    address,
    namespace,
    taskQueue: catalog.controlQueue,
    ...(catalog.app ? { app: catalog.app } : {}),
    ...(version ? { buildId: version.buildId, versioning: version.behavior } : {}),
  });
  await running;
  log.info({ event: 'worker:stopped', role: 'control' }, 'worker stopped');
  await tracing?.shutdown();
  await pacer.close();
  await clientConnection.close();
  await connection.close();
}

/** Runs one pool process for (group, lane) of `project`, loading only that group's handlers, until stopped. */
export async function runPool(project: Project, group: string, lane: Lane): Promise<void> {
  const { catalog } = project;
  const spec = catalog.pool(group, lane);
  if (!spec) throw new Error(`no pool ${group}/${lane} in the catalog of ${project.file}; groups: ${catalog.groups.join(', ')}`);
  // Only this group's handler module is imported: another group's import-time crash never gets here.
  const handlers = await project.handlersFor(group);
  const { address, namespace, connection, tracing } = await connect(project, 'pool');
  const poolSettings = project.settings.pool;
  const log = createLogger('tideway-pool', project.settings.logLevel, { group, lane, taskQueue: spec.taskQueue });
  const tl = project.settings.taskLogs;
  const store = new FileTaskLogStore({ dir: tl.dir, maxLines: tl.maxLines, maxBytes: tl.maxBytes });
  const pruned = store.prune(tl.retentionMs);
  if (pruned > 0) log.info({ event: 'task-log:pruned', files: pruned, dir: tl.dir }, 'old task log files removed');
  const pool = await createPool({
    connection,
    namespace,
    catalog,
    handlers,
    pool: spec,
    dataConverter: dataConverterOf(project.settings),
    log,
    taskLogs: { pino: log, store, storeLevel: tl.level, secrets: knownSecrets(project.settings) },
    tracing,
    ...(poolSettings.shutdownGraceMs !== undefined ? { shutdownGraceMs: poolSettings.shutdownGraceMs } : {}),
    ...(poolSettings.aimd !== undefined ? { aimd: poolSettings.aimd } : {}),
  });
  // The SDK's Runtime already turns SIGTERM/SIGINT into worker.shutdown(); this marks /healthz draining.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => pool.drain());
  const { port: metricsPort } = await pool.metrics.listen(poolSettings.metricsPort, poolSettings.metricsHost);
  const running = pool.run();
  announce({
    event: 'worker:ready',
    role: 'pool',
    group,
    lane,
    address,
    namespace,
    taskQueue: spec.taskQueue,
    metricsPort,
    concurrency: spec.concurrency,
    aimd: pool.aimd !== undefined,
    shutdownGraceMs: pool.shutdownGraceMs,
  });
  await running;
  log.info({ event: 'worker:stopped', role: 'pool', inFlight: pool.inFlight() }, 'worker stopped');
  await tracing?.shutdown();
  await connection.close();
}

/**
 * Writes a protocol line parents wait for (supervisor.ts parses it); not a log line, so it is
 * printed whatever TIDEWAY_LOG_LEVEL says.
 */
function announce(fields: Record<string, unknown> & { event: string }): void {
  process.stdout.write(`${JSON.stringify({ ...fields, pid: process.pid, time: Date.now() })}\n`);
}
