import type { PoolKey, PoolObservation, ScaledPool } from '../types';

/** What one signal contributes for each pool it knows about. */
export type SignalReading = Map<PoolKey, Partial<PoolObservation>>;

/**
 * One source of information about pools (backlog, in-flight work, cron forecast). A signal only
 * measures; the policy decides. A signal that throws makes the scaler keep the pools' sizes.
 */
export interface Signal {
  readonly name: string;
  read(pools: readonly ScaledPool[], now: number): Promise<SignalReading>;
}
