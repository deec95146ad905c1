import { z } from 'zod';
import type { PoolSpec } from '../config/catalog-schema';
import { durationMs, type Duration } from '../config/duration';
import { zodIssues } from '../config/errors';
import { LANES, type Lane } from '../config/names';
import { ScalerOptionsError } from './errors';
import { poolKey, scaledPool, type PoolKey, type ScaledPool } from './types';

/** Every scaler default, kept in one place (docs/scaler.md explains each knob). */
export const SCALER_DEFAULTS = {
  interval: '15s',
  targetDrainTime: '60s',
  stabilizationWindow: '5m',
  scaleDownMaxFraction: 0.5,
  idleAfter: '5m',
  scaleToZero: true,
  forecast: true,
  forecastHorizon: '24h',
  meanDuration: '1s',
  learnMeanDuration: true,
  laneWeights: { high: 4, normal: 2, low: 1 },
  backlogFloorReplicas: 1,
} as const;

const poolOverrideSchema = z
  .object({
    concurrency: z.number().int().min(1).optional(),
    minReplicas: z.number().int().min(0).optional(),
    maxReplicas: z.number().int().min(0).optional(),
    startupSeconds: z.number().min(0).optional(),
    /** Mean task duration assumed until one is learned. */
    meanDuration: durationMs.optional(),
  })
  .strict();

const poolKeySchema = z.string().regex(/^[a-z][a-z0-9-]*\.(high|normal|low)$/, "pool keys look like '<group>.<lane>'");

const scalerOptionsSchema = z
  .object({
    interval: durationMs.prefault(SCALER_DEFAULTS.interval),
    targetDrainTime: durationMs.prefault(SCALER_DEFAULTS.targetDrainTime),
    stabilizationWindow: durationMs.prefault(SCALER_DEFAULTS.stabilizationWindow),
    scaleDownMaxFraction: z.number().gt(0).max(1).default(SCALER_DEFAULTS.scaleDownMaxFraction),
    idleAfter: durationMs.prefault(SCALER_DEFAULTS.idleAfter),
    scaleToZero: z.boolean().default(SCALER_DEFAULTS.scaleToZero),
    forecast: z.boolean().default(SCALER_DEFAULTS.forecast),
    forecastHorizon: durationMs.prefault(SCALER_DEFAULTS.forecastHorizon),
    meanDuration: durationMs.prefault(SCALER_DEFAULTS.meanDuration),
    learnMeanDuration: z.boolean().default(SCALER_DEFAULTS.learnMeanDuration),
    laneWeights: z
      .object({ high: z.number().positive(), normal: z.number().positive(), low: z.number().positive() })
      .strict()
      .default({ ...SCALER_DEFAULTS.laneWeights }),
    maxTotalReplicas: z.number().int().min(0).optional(),
    backlogFloorReplicas: z.number().int().min(0).default(SCALER_DEFAULTS.backlogFloorReplicas),
    pools: z.array(poolKeySchema).optional(),
    poolOverrides: z.record(poolKeySchema, poolOverrideSchema).default({}),
  })
  .strict()
  .refine((o) => o.stabilizationWindow >= o.interval || o.stabilizationWindow === 0, {
    message: 'stabilizationWindow must be 0 or at least one interval',
    path: ['stabilizationWindow'],
  });

/** Scaler options as a human writes them; every field has a default in SCALER_DEFAULTS. */
export interface ScalerOptions {
  /** How often the scaler reads signals and decides. @default '15s' */
  interval?: Duration;
  /** A backlog should be worked off within this time (sets how many slots a backlog asks for). @default '60s' */
  targetDrainTime?: Duration;
  /** Scale down only to the highest recommendation seen within this window. @default '5m' */
  stabilizationWindow?: Duration;
  /** One decision removes at most this fraction of a pool's replicas (at least one). @default 0.5 */
  scaleDownMaxFraction?: number;
  /** With no backlog, work or arrivals for this long (and no fire forecast within the lead), a pool may go to zero. @default '5m' */
  idleAfter?: Duration;
  /** Allow idle pools below minReplicas, down to zero. @default true */
  scaleToZero?: boolean;
  /** Use the cron forecast signal (false gives the reactive, backlog-only policy). @default true */
  forecast?: boolean;
  /** How far ahead schedules are expanded (for display; the policy looks one lead ahead). @default '24h' */
  forecastHorizon?: Duration;
  /** Mean task duration assumed for a pool until one is learned. @default '1s' */
  meanDuration?: Duration;
  /** Learn mean duration from in-flight ÷ dispatch rate (Little's law). @default true */
  learnMeanDuration?: boolean;
  /** Share of the global budget per lane. @default { high: 4, normal: 2, low: 1 } */
  laneWeights?: Record<Lane, number>;
  /** Global replica budget shared by all pools. @default unlimited */
  maxTotalReplicas?: number;
  /** Replicas every pool with backlog keeps even when the budget is short. @default 1 */
  backlogFloorReplicas?: number;
  /** Only scale these pools (`demo.normal`). @default every catalog pool */
  pools?: string[];
  /** Per-pool changes to the catalog's pool settings. */
  poolOverrides?: Record<
    string,
    { concurrency?: number; minReplicas?: number; maxReplicas?: number; startupSeconds?: number; meanDuration?: Duration }
  >;
}

/** Scaler options after defaults and validation; durations in ms. */
export interface CompiledScalerOptions {
  readonly intervalMs: number;
  readonly targetDrainMs: number;
  readonly stabilizationMs: number;
  readonly scaleDownMaxFraction: number;
  readonly idleAfterMs: number;
  readonly scaleToZero: boolean;
  readonly forecast: boolean;
  readonly forecastHorizonMs: number;
  readonly learnMeanDuration: boolean;
  readonly laneWeights: Readonly<Record<Lane, number>>;
  readonly maxTotalReplicas: number;
  readonly backlogFloorReplicas: number;
  /** Pools to scale, overrides applied, high lanes first. */
  readonly pools: readonly ScaledPool[];
  /** Mean duration assumed per pool before learning. */
  readonly defaultMeanDurationMs: Readonly<Record<PoolKey, number>>;
}

/** Applies defaults, validates with zod and resolves pools; throws ScalerOptionsError naming the bad field. */
export function compileScalerOptions(input: ScalerOptions, catalogPools: readonly PoolSpec[]): CompiledScalerOptions {
  const parsed = scalerOptionsSchema.safeParse(input);
  if (!parsed.success) throw new ScalerOptionsError(zodIssues(parsed.error.issues));
  const o = parsed.data;
  const known = new Set(catalogPools.map(poolKey));
  const unknown = [...(o.pools ?? []), ...Object.keys(o.poolOverrides)].filter((k) => !known.has(k as PoolKey));
  if (unknown.length > 0) {
    throw new ScalerOptionsError(
      unknown.map((k) => ({ path: 'pools', message: `no pool ${k} in the catalog; known: ${[...known].join(', ')}` })),
    );
  }
  const pools: ScaledPool[] = [];
  const meanMs: Record<string, number> = {};
  for (const spec of catalogPools) {
    const key = poolKey(spec);
    if (o.pools && !o.pools.includes(key)) continue;
    const { meanDuration, ...over } = o.poolOverrides[key] ?? {};
    const merged = { ...spec, ...over };
    if (merged.maxReplicas < merged.minReplicas) {
      throw new ScalerOptionsError([{ path: `poolOverrides.${key}.maxReplicas`, message: 'must be >= minReplicas' }]);
    }
    pools.push(scaledPool(merged));
    meanMs[key] = meanDuration ?? o.meanDuration;
  }
  pools.sort((a, b) => LANES.indexOf(a.lane) - LANES.indexOf(b.lane) || a.group.localeCompare(b.group));
  return {
    intervalMs: o.interval,
    targetDrainMs: o.targetDrainTime,
    stabilizationMs: o.stabilizationWindow,
    scaleDownMaxFraction: o.scaleDownMaxFraction,
    idleAfterMs: o.idleAfter,
    scaleToZero: o.scaleToZero,
    forecast: o.forecast,
    forecastHorizonMs: o.forecastHorizon,
    learnMeanDuration: o.learnMeanDuration,
    laneWeights: o.laneWeights,
    maxTotalReplicas: o.maxTotalReplicas ?? Number.POSITIVE_INFINITY,
    backlogFloorReplicas: o.backlogFloorReplicas,
    pools,
    defaultMeanDurationMs: meanMs as Record<PoolKey, number>,
  };
}
