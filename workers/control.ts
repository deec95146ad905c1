import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createControlActivities } from '../activities/execute';
import type { Catalog } from '../config/catalog-schema';
import { CONTROL_TASK_QUEUE } from '../config/names';

/** Where `npm run build` writes the pre-bundled workflow code (saves seconds at every start). */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  catalog: Catalog;
  /** @default 'tideway.control' */
  taskQueue?: string;
}

/**
 * The control worker: runs `runTask` workflows and the envelope-resolving local activity. It runs
 * no handlers, so tasks are accepted, expired and dead-lettered even when every pool is at zero.
 */
export async function createControlWorker(opts: ControlWorkerOptions): Promise<Worker> {
  const code = existsSync(WORKFLOW_BUNDLE_PATH)
    ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }
    : { workflowsPath: require.resolve('../workflows') };
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? CONTROL_TASK_QUEUE,
    ...code,
    activities: createControlActivities(opts.catalog),
    // The control worker never runs remote activities, only local ones.
    enableNonLocalActivities: false,
  });
}
