/**
 * `tideway`: what a project's own code imports. Declaring tasks (defineTask, defineCatalog,
 * defineConfig, defineHandlers), the error classes handlers throw, and the typed clients. Nothing
 * here loads the Temporal worker; `tideway/worker`, `tideway/http` and `tideway/scaler` run things.
 */
export { defineTask, defineBatchTask, defineBatchHandler, BATCH_DEFAULTS } from '../config/task';
export type {
  TaskContext,
  TaskHandler,
  TaskDefinition,
  AnyTaskDefinition,
  TaskName,
  TaskInput,
  TaskOutput,
  TimeoutsInput,
  BatchTaskDefinition,
  BatchHandler,
  BatchResult,
  BatchSpec,
  ShardFailurePolicy,
} from '../config/task';
export { defineCatalog, CATALOG_DEFAULTS } from '../config/catalog-schema';
export type { Catalog, CatalogInput, CompiledTask, PoolSpec, PoolSettingsInput, PoolsInput } from '../config/catalog-schema';
export { defineConfig, defineHandlers } from '../config/project';
export type { TidewayConfigInput, TidewayConfig, HandlerMap, HandlerLoader, HandlerModule } from '../config/project';
export type { Register, RegisteredTasks } from '../config/register';
export { loadProject, findConfigFile, CONFIG_FILE_NAMES } from '../config/load';
export type { Project, LoadProjectOptions } from '../config/load';
export type { Duration } from '../config/duration';
// Task logs (ctx.log): the line, the page clients read, and the per-task store behind them.
export type { TaskLogger, TaskLogLine, TaskLogPage, TaskLogs, TaskLogStore, TaskLogLevel } from '../config/task-log';
export { TASK_LOG_DEFAULTS } from '../config/task-log';
export { FileTaskLogStore } from '../config/task-log-file';
export type { FileTaskLogStoreOptions } from '../config/task-log-file';
export type { RetryPolicyInput } from '../config/retry';
export type { TaskEnvelope } from '../config/envelope';
export {
  LANES,
  TASK_STATUSES,
  TERMINAL_STATUSES,
  RUN_TASK_WORKFLOW,
  RUN_BATCH_WORKFLOW,
  shardTaskId,
  controlTaskQueue,
  poolTaskQueue,
  callbackTaskQueue,
} from '../config/names';
export type { Lane, TaskStatus } from '../config/names';
// runTask's messages, for a plain Temporal client too: `handle.signal(pauseSignal)`, `handle.query(stateQuery)`.
export { MESSAGES, stateQuery, pauseSignal, resumeSignal, redriveSignal, discardSignal } from '../config/messages';
export type { RedriveRequest } from '../config/messages';
export { SEARCH_ATTRIBUTES } from '../config/search-attributes';

// Errors: one hierarchy (TidewayError), each with a stable `type`; match on `type` across module copies.
export { TidewayError, CatalogError, ConfigError, HandlerModuleError, ValidationError, UnknownTaskTypeError } from '../config/errors';
export { NonRetryableError, ThrottledError, RetryableError, throwForResponse, parseRetryAfter } from '../activities/errors';
export { AdmissionThrottledError, AdmissionClosedError } from '../config/admission';
export { TaskNotFoundError, TaskConflictError, TaskFailedError, ScheduleNotFoundError } from '../api/errors';

// Clients.
export { TaskClient } from '../api/task-client';
export type { SubmitOptions, SubmitResult, ListResult, TaskClientOptions, TaskState, TaskSummary, ListFilter } from '../api/task-client';
export type { TaskError, BatchProgress } from '../config/task-state';
export { HttpTaskClient, HttpApiError } from '../api/http-client';
export type { HttpTaskClientOptions, RetryInfo, BulkAccepted, BulkStatus, BulkCancelled } from '../api/http-client';
export { securityOptions } from '../temporal/connection';
// Lane admission: a gate to share between clients of one process, and the modes TIDEWAY_ADMISSION names.
export { createAdmission } from '../admission';
export type { AdmissionGate, AdmissionMode, AdmissionSnapshot } from '../admission';
export { parseAdmission, parseAdmissionMode } from '../config/admission';
export type { AdmissionSpec, LaneBudget } from '../config/admission';
