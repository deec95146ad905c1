import type { PoolKey } from './types';

/** Below these, a Little's-law sample is mostly noise (too few tasks to average over). */
const MIN_DISPATCH_RATE = 0.2;
const MIN_IN_FLIGHT = 1;
const ALPHA = 0.3;
/** Arrivals and dispatches within this fraction of each other count as steady state. */
const STEADY_TOLERANCE = 0.2;
const BOUNDS_MS = [50, 3_600_000] as const;

/**
 * Learns each pool's mean task duration from Little's law: at steady state, tasks running =
 * dispatch rate × mean duration, so duration ≈ in-flight ÷ dispatch rate. Little's law only holds
 * in steady state, so a sample is taken only when nothing queues and arrivals match dispatches
 * (during a burst the 30 s rate averages lag the instant in-flight count badly). Samples are smoothed
 * with an exponential moving average; until a pool has a sample, its configured default is used.
 */
export class MeanDurationEstimator {
  private readonly learned = new Map<PoolKey, number>();

  constructor(
    private readonly defaults: Readonly<Record<PoolKey, number>>,
    private readonly learn = true,
    private readonly fallbackMs = 1_000,
  ) {}

  /** Feeds one observation; returns the sample taken, if the observation was usable. */
  observe(pool: PoolKey, obs: { inFlight: number; dispatchRate: number; addRate: number; backlog: number }): number | undefined {
    if (!this.learn || obs.dispatchRate < MIN_DISPATCH_RATE || obs.inFlight < MIN_IN_FLIGHT || obs.backlog > 0) return undefined;
    if (Math.abs(obs.addRate - obs.dispatchRate) > STEADY_TOLERANCE * obs.dispatchRate) return undefined;
    const sample = Math.min(BOUNDS_MS[1], Math.max(BOUNDS_MS[0], (obs.inFlight / obs.dispatchRate) * 1_000));
    const prev = this.learned.get(pool);
    this.learned.set(pool, prev === undefined ? sample : prev + ALPHA * (sample - prev));
    return sample;
  }

  /** Current estimate for a pool in ms, and whether it was learned or is the default. */
  get(pool: PoolKey): { ms: number; source: 'learned' | 'default' } {
    const l = this.learned.get(pool);
    return l !== undefined ? { ms: l, source: 'learned' } : { ms: this.defaults[pool] ?? this.fallbackMs, source: 'default' };
  }
}
