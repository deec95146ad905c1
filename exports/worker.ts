/**
 * `tideway/worker`: run a project's worker processes from your own code (what `tideway worker`
 * does): the control worker, or one pool, which loads only its own group's handler module.
 *
 *   import { loadProject } from 'tideway';
 *   import { runPool } from 'tideway/worker';
 *   await runPool(await loadProject(), 'media', 'normal');
 */
export { runControl, runPool } from '../workers/run';
export { createControlWorker, createCallbackWorker, createFlowWorker, createRedriveWorker, WORKFLOW_BUNDLE_PATH } from '../workers/control';
export type { ControlWorkerOptions, ControlVersion } from '../workers/control';
export { createPool } from '../workers/pool';
export type { Pool, PoolWorkerOptions } from '../workers/pool';
export { spawnWorker } from '../workers/supervisor';
export type { WorkerProcess, WorkerRole, SpawnWorkerOptions } from '../workers/supervisor';
