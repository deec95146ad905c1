import { TidewayError, type FieldIssue } from '../config/errors';

/** Thrown by `compileScalerOptions` when an option is malformed; `issues` names each bad field. */
export class ScalerOptionsError extends TidewayError {
  readonly type = 'ScalerOptionsError';
  constructor(readonly issues: FieldIssue[]) {
    super(`invalid scaler options:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
  }
}

/** Thrown by a signal when its source cannot be read this round; the scaler keeps the pool's size. */
export class SignalError extends TidewayError {
  readonly type = 'SignalError';
  constructor(
    readonly signal: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`signal ${signal}: ${message}`, options);
  }
}

/** Thrown by an actuator when it cannot read or change a pool's replicas. */
export class ActuatorError extends TidewayError {
  readonly type = 'ActuatorError';
  constructor(
    readonly actuator: string,
    readonly pool: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${actuator} actuator, pool ${pool}: ${message}`, options);
  }
}
