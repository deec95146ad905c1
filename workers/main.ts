import { DefaultLogger, Runtime } from '@temporalio/worker';
import { catalog } from '../config/catalog';
import { createLogger } from '../config/log';
import { LANES, poolTaskQueue, type Lane } from '../config/names';
import { connectWorker } from './connection';
import { createControlWorker } from './control';
import { createPoolWorker } from './pool';

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
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await connectWorker(address);

  let worker;
  let log;
  if (role === 'control') {
    log = createLogger('tideway-control');
    worker = await createControlWorker({ connection, namespace, catalog });
  } else if (role === 'pool' && group && laneArg && (LANES as readonly string[]).includes(laneArg)) {
    const lane = laneArg as Lane;
    const pool = catalog.pool(group, lane);
    if (!pool) throw new Error(`no pool ${group}/${lane} in the catalog; groups: ${catalog.groups.join(', ')}`);
    log = createLogger('tideway-pool', { group, lane, taskQueue: poolTaskQueue(group, lane) });
    const grace = Number(process.env.TIDEWAY_SHUTDOWN_GRACE_MS ?? 30_000);
    worker = await createPoolWorker({ connection, namespace, catalog, pool, shutdownGraceMs: grace });
  } else {
    throw new Error('usage: main.js control | main.js pool <group> <high|normal|low>');
  }
  const running = worker.run();
  log.info({ event: 'worker:ready', role, address, namespace }, 'worker ready');
  await running;
  log.info({ event: 'worker:stopped', role }, 'worker stopped');
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
