/**
 * Errors raised while loading or using the task catalog and validating task envelopes.
 * Each has a stable `type` string; match on it rather than `instanceof` across module copies.
 */

/** One problem with a value: where it is (a dotted path) and what is wrong. */
export interface FieldIssue {
  path: string;
  message: string;
}

export abstract class TidewayError extends Error {
  abstract readonly type: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Thrown by `defineCatalog` when an entry is malformed; `issues` names each bad field's path. */
export class CatalogError extends TidewayError {
  readonly type = 'CatalogError';
  constructor(readonly issues: FieldIssue[]) {
    super(`invalid task catalog:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`);
  }
}

/** Thrown by every entry point when a submit fails validation; nothing was started. */
export class ValidationError extends TidewayError {
  readonly type = 'ValidationError';
  constructor(readonly issues: FieldIssue[]) {
    super(`invalid task: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

/** Thrown when a submit names a task type the catalog does not declare. */
export class UnknownTaskTypeError extends TidewayError {
  readonly type = 'UnknownTaskTypeError';
  constructor(
    readonly taskType: string,
    readonly known: readonly string[],
  ) {
    super(`unknown task type ${JSON.stringify(taskType)}; known types: ${known.join(', ')}`);
  }
}

/** Flattens zod issues into `{path, message}` with dotted paths, prefixed by `prefix`. */
export function zodIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix = ''): FieldIssue[] {
  return issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.'),
    message: i.message,
  }));
}

/** Thrown when tideway.config.ts cannot be found, loaded or validated; `issues` names each bad field. */
export class ConfigError extends TidewayError {
  readonly type = 'ConfigError';
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
    options?: { cause?: unknown },
  ) {
    super(issues.length > 0 ? `${message}\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}` : message, options);
  }
}

/** Thrown by a pool process when its group's handler module cannot be loaded or does not fit the catalog. */
export class HandlerModuleError extends TidewayError {
  readonly type = 'HandlerModuleError';
  constructor(
    readonly group: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
