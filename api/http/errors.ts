import { TidewayError, type FieldIssue } from '../../config/errors';

/**
 * Errors the HTTP edge raises itself (auth, throttling, bad routes), and the one mapping from any
 * error to the public shape `{ error: { type, message, details? } }` with its status code.
 */

/** An error with an HTTP status; everything the edge throws on purpose is one of these. */
export abstract class HttpError extends TidewayError {
  abstract readonly status: number;
  /** Extra, machine-readable facts for the caller (field issues, retry hints). */
  readonly details: unknown;
  constructor(message: string, details?: unknown) {
    super(message);
    this.details = details;
  }
}

/** Thrown when a request body, parameter or query fails its schema; `details.issues` has each path. */
export class BadRequestError extends HttpError {
  readonly type = 'ValidationError';
  readonly status = 400;
  constructor(
    readonly issues: FieldIssue[],
    message = `invalid request: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
  ) {
    super(message, { issues });
  }
}

/** Thrown when the request carries no API key or an unknown one. */
export class UnauthorizedError extends HttpError {
  readonly type = 'Unauthorized';
  readonly status = 401;
}

/** Thrown when a resource does not exist or belongs to another tenant (never a 403: existence is not revealed). */
export class NotFoundError extends HttpError {
  readonly type = 'NotFound';
  readonly status = 404;
}

/** Thrown when backpressure or a quota refuses a submit; `retryAfterSeconds` becomes `Retry-After`. */
export class TooManyRequestsError extends HttpError {
  readonly type = 'TooManyRequests';
  readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    readonly reason: 'backlog' | 'inflight_quota' | 'batch_limit' | 'lane_admission',
    details: Record<string, unknown> = {},
  ) {
    super(message, { reason, retryAfterSeconds, ...details });
  }
}

/** Thrown when an operation does not fit the current state of a resource (as the domain's TaskConflict). */
export class ConflictError extends HttpError {
  readonly type = 'Conflict';
  readonly status = 409;
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { type: string; message: string; details?: unknown };
}

/** Status codes of the domain errors (matched on `type`, not `instanceof`, so module copies agree). */
const DOMAIN_STATUS: Record<string, number> = {
  ValidationError: 400,
  UnknownTaskTypeError: 400,
  TaskNotFound: 404,
  TaskConflict: 409,
  ScheduleNotFound: 404,
  ScheduleConflict: 409,
  BulkNotFound: 404,
  BulkConflict: 409,
};

/** Fastify's own client-error codes, mapped to our types. */
const FASTIFY_CODES: Record<string, { status: number; type: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, type: 'PayloadTooLarge' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, type: 'MalformedJson' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, type: 'MalformedJson' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, type: 'UnsupportedMediaType' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, type: 'BadRequest' },
  FST_ERR_BAD_URL: { status: 400, type: 'BadRequest' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, type: 'BadRequest' },
};

/** Maps any thrown value to `[status, body]`; unknown errors are 500 with a generic message. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; retryAfterSeconds?: number } {
  if (err instanceof HttpError) {
    return {
      status: err.status,
      body: { error: { type: err.type, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } },
      ...(err instanceof TooManyRequestsError ? { retryAfterSeconds: err.retryAfterSeconds } : {}),
    };
  }
  const e = err as { type?: unknown; code?: unknown; message?: unknown; issues?: unknown; statusCode?: unknown; known?: unknown };
  if (e?.type === 'AdmissionThrottled') {
    // The lane's start budget (config/admission.ts): the same 429 as backpressure, its own reason.
    const a = err as { lane?: unknown; retryAfterMs?: unknown };
    const seconds = Math.max(1, Math.ceil(Number(a.retryAfterMs) / 1000));
    return toErrorResponse(new TooManyRequestsError(String(e.message), seconds, 'lane_admission', { lane: a.lane }));
  }
  if (typeof e?.type === 'string' && DOMAIN_STATUS[e.type] !== undefined) {
    const details =
      e.type === 'ValidationError'
        ? { issues: e.issues }
        : e.type === 'UnknownTaskTypeError'
          ? { issues: [{ path: 'type', message: String(e.message) }], known: e.known }
          : undefined;
    return {
      status: DOMAIN_STATUS[e.type]!,
      body: { error: { type: e.type, message: String(e.message), ...(details ? { details } : {}) } },
    };
  }
  if (typeof e?.code === 'string' && FASTIFY_CODES[e.code]) {
    const m = FASTIFY_CODES[e.code]!;
    return { status: m.status, body: { error: { type: m.type, message: String(e.message) } } };
  }
  // Any other client error fastify raised (4xx) keeps its status; we never echo internals of a 5xx.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: { type: 'BadRequest', message: String(e.message) } } };
  }
  return { status: 500, body: { error: { type: 'Internal', message: 'internal error; see the server log' } } };
}
