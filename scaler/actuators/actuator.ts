import { SCALER_ACTUATORS } from '../../config/settings';
import type { ScaledPool } from '../types';

/** Which actuator runs the pools (TIDEWAY_SCALER_ACTUATOR; config/settings.ts lists them). */
export const ACTUATOR_TYPES = SCALER_ACTUATORS;
export type ActuatorType = (typeof ACTUATOR_TYPES)[number];

/**
 * Makes a pool run a number of replicas. Actuators only act; they never decide. When the scaler
 * stops or dies, pools keep the size the actuator last gave them.
 */
export interface Actuator {
  readonly type: ActuatorType;
  /** Replicas the pool runs now, as this actuator sees them (starting replicas count). */
  replicas(pool: ScaledPool): Promise<number>;
  /** Sets a pool's replicas; resolves once the change is made (for processes: new replicas are polling). */
  scale(pool: ScaledPool, replicas: number): Promise<void>;
  /** Releases resources; with `stopPools` a process actuator also drains the pools it runs. */
  close(opts?: { stopPools?: boolean }): Promise<void>;
}
