import { Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { catalog } from '../config/catalog';
import { createLogger } from '../config/log';
import { LANES, poolTaskQueue, type Lane } from '../config/names';
import { connectWorker } from './connection';
import { checkRouting, createCallbackWorker, createControlWorker, syncSchedules } from './control';
import { createPool } from './pool';

/**
 * Entry point of one worker process:
 *   node dist/workers/main.js control
 *   node dist/workers/main.js pool <group> <lane>
 * Reads TEMPORAL_ADDRESS (default 127.0.0.1:7233) and TEMPORAL_NAMESPACE. On SIGTERM/SIGINT the
 * worker stops polling and lets in-flight work finish within the grace period, then exits.
 * Prints one JSON line with event "worker:ready" once it polls, which parents and tests wait for.
 */
async function main(): Promise<void> {
  const [role, group, laneArg] = process.argv.slice(2);
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  // SDK internals log warnings and errors only; Tideway's own events go through pino on stdout.
  const sdkMetrics = sdkEnvSchema.parse(process.env).TIDEWAY_SDK_METRICS;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    // The SDK's own metrics (poll and schedule-to-start latencies, slots, sticky cache) on a
    // Prometheus endpoint of their own, when asked for: they explain where a task's time goes.
    ...(sdkMetrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetrics } } } } : {}),
  });
  const connection = await connectWorker(address);

  if (role === 'control') {
    const log = createLogger('tideway-control');
    const env = controlEnvSchema.parse(process.env);
    const version = env.TIDEWAY_BUILD_ID
      ? {
          buildId: env.TIDEWAY_BUILD_ID,
          behavior: env.TIDEWAY_VERSIONING_BEHAVIOR === 'pinned' ? ('PINNED' as const) : ('AUTO_UPGRADE' as const),
        }
      : undefined;
    const worker = await createControlWorker({ connection, namespace, catalog, version });
    const callbacks = await createCallbackWorker({ connection, namespace });
    // One client connection for the start-up housekeeping (the worker's own is a NativeConnection).
    const client = await Connection.connect({ address });
    const running = Promise.all([worker.run(), callbacks.run()]);
    try {
      await syncSchedules(client, namespace, log);
      await checkRouting(client, namespace, version?.buildId, env.TIDEWAY_PROMOTE === '1' || env.TIDEWAY_PROMOTE === 'true', log);
    } finally {
      await client.close();
    }
    announce({
      event: 'worker:ready',
      role,
      address,
      namespace,
      ...(version ? { buildId: version.buildId, versioning: version.behavior } : {}),
    });
    await running;
    log.info({ event: 'worker:stopped', role }, 'worker stopped');
  } else if (role === 'pool' && group && laneArg && (LANES as readonly string[]).includes(laneArg)) {
    const lane = laneArg as Lane;
    const spec = catalog.pool(group, lane);
    if (!spec) throw new Error(`no pool ${group}/${lane} in the catalog; groups: ${catalog.groups.join(', ')}`);
    const env = poolEnvSchema.parse(process.env);
    const log = createLogger('tideway-pool', { group, lane, taskQueue: poolTaskQueue(group, lane) });
    const pool = await createPool({
      connection,
      namespace,
      catalog,
      pool: spec,
      log,
      ...(env.TIDEWAY_SHUTDOWN_GRACE_MS !== undefined ? { shutdownGraceMs: env.TIDEWAY_SHUTDOWN_GRACE_MS } : {}),
      ...(env.TIDEWAY_AIMD !== undefined ? { aimd: env.TIDEWAY_AIMD === '1' || env.TIDEWAY_AIMD === 'true' } : {}),
    });
    // The SDK's Runtime already turns SIGTERM/SIGINT into worker.shutdown(); this marks /healthz draining.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => pool.drain());
    const { port: metricsPort } = await pool.metrics.listen(env.TIDEWAY_METRICS_PORT, env.TIDEWAY_METRICS_HOST);
    const running = pool.run();
    announce({
      event: 'worker:ready',
      role,
      group,
      lane,
      address,
      namespace,
      metricsPort,
      concurrency: spec.concurrency,
      aimd: pool.aimd !== undefined,
      shutdownGraceMs: pool.shutdownGraceMs,
    });
    await running;
    log.info({ event: 'worker:stopped', role, inFlight: pool.inFlight() }, 'worker stopped');
  } else {
    throw new Error('usage: main.js control | main.js pool <group> <high|normal|low>');
  }
  await connection.close();
}

/**
 * Writes a protocol line parents wait for (supervisor.ts parses it); not a log line, so it is
 * printed whatever TIDEWAY_LOG_LEVEL says.
 */
function announce(fields: Record<string, unknown> & { event: string }): void {
  process.stdout.write(`${JSON.stringify({ ...fields, pid: process.pid, time: Date.now() })}\n`);
}

/** Settings of any worker process. */
const sdkEnvSchema = z.object({
  /** host:port for the Temporal SDK's own Prometheus metrics (unset: off). */
  TIDEWAY_SDK_METRICS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'use host:port, e.g. 127.0.0.1:9464')
    .optional(),
});

/** Worker-versioning settings of a control process (docs/pools.md, "Upgrades"). */
const controlEnvSchema = z.object({
  /** Join the tideway-control Worker Deployment as this build; unset = unversioned. */
  TIDEWAY_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'use 1-64 letters, digits, dots, dashes or underscores')
    .optional(),
  TIDEWAY_VERSIONING_BEHAVIOR: z.enum(['auto-upgrade', 'pinned']).default('auto-upgrade'),
  /** Make this build the current version once it polls (a one-step rollout). */
  TIDEWAY_PROMOTE: z.enum(['0', '1', 'true', 'false']).optional(),
});

/** Per-process settings of a pool process (per process, not per pool: replicas share a host in dev). */
const poolEnvSchema = z.object({
  /** Port of /healthz and /metrics; 0 picks a free one (printed in the ready line). */
  TIDEWAY_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  TIDEWAY_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  /** Overrides the pool's `shutdownGrace`. */
  TIDEWAY_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).optional(),
  /** Overrides the pool's `aimd.enabled`. */
  TIDEWAY_AIMD: z.enum(['0', '1', 'true', 'false']).optional(),
});

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
