import type { PoolSpec } from '../config/catalog-schema';
import type { Lane } from '../config/names';

/** Stable key of a pool, `<group>.<lane>` (used in options, metrics labels and the state file). */
export type PoolKey = `${string}.${Lane}`;

/** The key of a pool spec. */
export function poolKey(p: { group: string; lane: Lane }): PoolKey {
  return `${p.group}.${p.lane}`;
}

/** A pool as the scaler sees it: the catalog spec after per-pool overrides. */
export interface ScaledPool extends PoolSpec {
  readonly key: PoolKey;
}

/** Builds a ScaledPool from a spec. */
export function scaledPool(spec: PoolSpec): ScaledPool {
  return { ...spec, key: poolKey(spec) };
}

/** One forecast cron fire that will start tasks in a pool. */
export interface ForecastFire {
  readonly at: number;
  readonly scheduleId: string;
  readonly taskType: string;
  /** Tasks one fire brings; for a batch type, its shards. */
  readonly expectedTasks: number;
  /** `catalog` when expanded from the catalog's cron, `server` when the Temporal Schedule answered. */
  readonly source: 'catalog' | 'server';
  /**
   * Where `expectedTasks` comes from: `declared` (the schedule's `expectedTasks`) or `learned` (a batch
   * schedule's shard count from its last completed runs). Absent = declared.
   */
  readonly sizeSource?: 'declared' | 'learned';
  /** A batch type's `maxParallel`: the fire never runs more of its tasks at once. Absent = no cap. */
  readonly maxParallel?: number;
  /** Mean duration of one of the fire's tasks in ms. Absent = the pool's mean duration. */
  readonly meanDurationMs?: number;
}

/**
 * What the signals observed about one pool in one round. Every field is optional because each
 * signal fills only its own; the scaler fills gaps with safe defaults (see `completeObservation`).
 */
export interface PoolObservation {
  backlog: number;
  backlogAgeMs: number;
  /** Tasks added per second (server's 30 s average). */
  addRate: number;
  /** Tasks dispatched to workers per second (server's 30 s average). */
  dispatchRate: number;
  /** Tasks currently running a handler. */
  inFlight: number;
  /** Forecast fires within the horizon, soonest first. */
  fires: ForecastFire[];
}

/** Default observation: nothing queued, nothing running, nothing forecast. */
export function emptyObservation(): PoolObservation {
  return { backlog: 0, backlogAgeMs: 0, addRate: 0, dispatchRate: 0, inFlight: 0, fires: [] };
}
