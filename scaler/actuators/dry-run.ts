import type { ScaledPool } from '../types';
import type { Actuator } from './actuator';

/** Dry-run actuator: remembers the replicas it was told and changes nothing, so decisions can be watched safely. */
export function dryRunActuator(initial: Record<string, number> = {}): Actuator {
  const sizes = new Map<string, number>(Object.entries(initial));
  return {
    type: 'dry-run',
    replicas: async (pool: ScaledPool) => sizes.get(pool.key) ?? 0,
    scale: async (pool: ScaledPool, n: number) => void sizes.set(pool.key, n),
    close: async () => undefined,
  };
}
