import type { Client } from '@temporalio/client';
import type { Catalog } from '../../config/catalog-schema';
import { compileScalerOptions, type CompiledScalerOptions } from '../../scaler/options';
import { drainSlots, replicasFor } from '../../scaler/policy';
import { forecastSignal } from '../../scaler/signals/forecast';
import type { Signal } from '../../scaler/signals';
import type { ForecastFire, ScaledPool } from '../../scaler/types';
import type { ForecastFireView } from './schemas';

/** The dashboard's forecast horizon: the next 24 hours. */
export const FORECAST_HORIZON_MS = 24 * 3_600_000;

/**
 * Replicas the scaler's policy plans for one fire on its own: the slots that work the fire's tasks
 * off within the target drain time (capped by a batch's `maxParallel`), in replicas, within the
 * pool's bounds. The same functions the scaler decides with (scaler/policy.ts).
 */
export function plannedReplicas(fire: ForecastFire, pool: ScaledPool, meanDurationMs: number, targetDrainMs: number): number {
  const slots = drainSlots(fire.expectedTasks, fire.meanDurationMs ?? meanDurationMs, targetDrainMs, fire.maxParallel);
  return Math.max(pool.minReplicas, Math.min(replicasFor(slots, pool.concurrency), pool.maxReplicas));
}

/**
 * The next 24 h of cron fires for every pool with the replicas planned for each, read with the
 * scaler's own forecast signal (catalog schedules and Temporal Schedules, learned batch sizes) and
 * kept for `ttlMs`: listing schedules and their fire times is too slow to repeat on every poll.
 */
export class DashboardForecast {
  private readonly options: CompiledScalerOptions;
  private readonly signal: Signal;
  private cached: { at: number; fires: ForecastFireView[] } | undefined;
  private reading: Promise<ForecastFireView[]> | undefined;

  constructor(
    client: Client,
    catalog: Catalog,
    scalerOptions: Readonly<Record<string, unknown>> | undefined,
    private readonly ttlMs = 60_000,
  ) {
    this.options = compileWithFallback(scalerOptions, catalog);
    this.signal = forecastSignal({ catalog, client, horizonMs: FORECAST_HORIZON_MS });
  }

  async read(now: number): Promise<ForecastFireView[]> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.fires;
    this.reading ??= this.compute(now).finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async compute(now: number): Promise<ForecastFireView[]> {
    const pools = this.options.pools;
    const reading = await this.signal.read(pools, now);
    const out: ForecastFireView[] = [];
    for (const pool of pools) {
      const mean = this.options.defaultMeanDurationMs[pool.key] ?? 1_000;
      for (const f of reading.get(pool.key)?.fires ?? []) {
        out.push({
          at: new Date(f.at).toISOString(),
          pool: pool.key,
          group: pool.group,
          lane: pool.lane,
          scheduleId: f.scheduleId,
          taskType: f.taskType,
          expectedTasks: f.expectedTasks,
          sizeSource: f.sizeSource ?? 'declared',
          plannedReplicas: plannedReplicas(f, pool, mean, this.options.targetDrainMs),
        });
      }
    }
    out.sort((a, b) => a.at.localeCompare(b.at) || a.pool.localeCompare(b.pool));
    this.cached = { at: now, fires: out };
    return out;
  }
}

/** The scaler's options as configured; the defaults when they do not compile (the scaler itself reports that). */
function compileWithFallback(options: Readonly<Record<string, unknown>> | undefined, catalog: Catalog): CompiledScalerOptions {
  try {
    return compileScalerOptions({ ...(options ?? {}), forecast: true }, catalog.pools);
  } catch {
    return compileScalerOptions({}, catalog.pools);
  }
}
