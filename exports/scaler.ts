/**
 * `tideway/scaler`: the scaler (backlog + cron forecast in, replicas out) and its parts, for running
 * it inside your own process or testing a policy.
 */
export { runScaler } from '../scaler/run';
export type { ScalerFlags } from '../scaler/run';
export { Scaler } from '../scaler/scaler';
export type { ScalerDeps, ScalerEvents, DecisionEvent, ScaledEvent } from '../scaler/scaler';
export { compileScalerOptions, SCALER_DEFAULTS } from '../scaler/options';
export type { ScalerOptions, CompiledScalerOptions } from '../scaler/options';
export { createActuator, ProcessActuator, KubernetesActuator, dryRunActuator, ACTUATOR_TYPES } from '../scaler/actuators';
export type { Actuator, ActuatorConfig, ActuatorType } from '../scaler/actuators';
export { defaultSignals } from '../scaler/signals';
export type { Signal, SignalReading } from '../scaler/signals';
