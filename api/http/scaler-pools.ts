import type { Lane } from '../../config/names';
import { defaultStateFile, isStale, readScalerState } from '../../scaler/state';
import type { PoolExtras, PoolInfoProvider } from './pools';

/**
 * Feeds `GET /v1/pools` from the scaler's state file (the HTTP layer reads the scaler, never the
 * other way round): replicas, desired and the next forecast
 * fires. A missing or stale file (no scaler running) adds nothing, so the route still shows backlog.
 */
export function scalerStateProvider(dataDir: string): PoolInfoProvider {
  return scalerStateFileProvider(defaultStateFile(dataDir));
}

/** `scalerStateProvider` reading a given state file (the scaler's `--state-file`). */
export function scalerStateFileProvider(file: string): PoolInfoProvider {
  return {
    name: 'scaler-state',
    poolInfo(group: string, lane: Lane): PoolExtras {
      const state = readScalerState(file);
      if (!state || isStale(state)) return {};
      const p = state.pools.find((x) => x.group === group && x.lane === lane);
      if (!p) return {};
      return { replicas: p.replicas, desired: p.desired, forecast: { reason: p.reason, nextFires: p.nextFires } };
    },
  };
}
