import { Worker, type NativeConnection } from '@temporalio/worker';
import { createPoolActivities } from '../activities/execute';
import type { Catalog, PoolSpec } from '../config/catalog-schema';
import { poolTaskQueue } from '../config/names';

export interface PoolWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  catalog: Catalog;
  pool: PoolSpec;
  /** In-flight tasks get this long to finish on SIGTERM before they are cancelled and retried elsewhere. @default 30s */
  shutdownGraceMs?: number;
}

/** A pool worker: serves exactly one `tideway.<group>.<lane>` queue with that group's handlers only. */
export async function createPoolWorker(opts: PoolWorkerOptions): Promise<Worker> {
  const { pool } = opts;
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: poolTaskQueue(pool.group, pool.lane),
    activities: createPoolActivities(opts.catalog, pool.group),
    maxConcurrentActivityTaskExecutions: pool.concurrency,
    ...(pool.rateLimit !== undefined ? { maxTaskQueueActivitiesPerSecond: pool.rateLimit } : {}),
    shutdownGraceTime: opts.shutdownGraceMs ?? 30_000,
  });
}
