import type { Actuator } from './actuator';
import { dryRunActuator } from './dry-run';
import { KubernetesActuator, type KubernetesActuatorOptions } from './kubernetes';
import { ProcessActuator, type ProcessActuatorOptions } from './process';

export type { Actuator, ActuatorType } from './actuator';
export { ACTUATOR_TYPES } from './actuator';
export { ProcessActuator } from './process';
export { KubernetesActuator, deploymentNameFor } from './kubernetes';
export { dryRunActuator } from './dry-run';

/** Which actuator to build and its settings. */
export type ActuatorConfig =
  ({ type: 'process' } & ProcessActuatorOptions) | ({ type: 'kubernetes' } & KubernetesActuatorOptions) | { type: 'dry-run' };

/** Builds the configured actuator. */
export function createActuator(cfg: ActuatorConfig): Actuator {
  switch (cfg.type) {
    case 'process':
      return new ProcessActuator(cfg);
    case 'kubernetes':
      return new KubernetesActuator(cfg);
    case 'dry-run':
      return dryRunActuator();
  }
}
