// Entry point the control worker bundles: deterministic workflow code only.
export { runTask } from './run-task';
export { bulkIntake } from './bulk-intake';
export { runBatch } from './run-batch';
export { scalerLease } from './scaler-lease';
export { debounceTask } from './debounce-task';
export { flowLimiter } from './flow-limiter';
export { admissionRegistry } from './admission-registry';
