/**
 * Additive-increase / multiplicative-decrease of a pool's concurrency, driven by how its handlers'
 * attempts end. Pure logic on explicit timestamps (no timers, no Temporal) so every rule is unit
 * tested; workers/pool.ts feeds it outcomes and ticks and applies its limit to the slot supplier.
 */

/** How an attempt on this pool ended, as far as AIMD cares. */
export type AttemptOutcome = 'ok' | 'throttled' | 'failed' | 'cancelled';

/** Controller settings with durations in ms (compiled from the catalog's `pools.*.aimd`). */
export interface AimdConfig {
  /** The limit never exceeds this (the pool's `concurrency`). */
  readonly maxLimit: number;
  /** The limit never drops below this. */
  readonly minLimit: number;
  readonly windowMs: number;
  /** Throttled attempts needed in the window before a decrease. */
  readonly minThrottled: number;
  /** Share of finished attempts in the window that must be throttled before a decrease. */
  readonly throttledRatio: number;
  readonly increaseIntervalMs: number;
}

/** One decision, with the inputs that led to it (logged and exported as metrics). */
export interface AimdDecision {
  readonly kind: 'decrease' | 'increase' | 'hold';
  readonly from: number;
  readonly limit: number;
  /** Throttled attempts counted in the window (only attempts started after the last decrease). */
  readonly throttled: number;
  /** Finished attempts counted in the window (cancelled ones excluded). */
  readonly finished: number;
  readonly at: number;
}

interface Finished {
  readonly at: number;
  readonly startedAt: number;
  readonly throttled: boolean;
}

/** AIMD controller: halve on sustained throttling, add one slot per quiet interval. */
export class AimdController {
  private readonly cfg: AimdConfig;
  private current: number;
  private window: Finished[] = [];
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private lastIncreaseAt: number;

  constructor(cfg: AimdConfig, now: number) {
    if (cfg.minLimit < 1 || cfg.maxLimit < cfg.minLimit) {
      throw new RangeError(`AIMD needs 1 <= minLimit (${cfg.minLimit}) <= maxLimit (${cfg.maxLimit})`);
    }
    this.cfg = cfg;
    this.current = cfg.maxLimit;
    this.lastIncreaseAt = now;
  }

  /** The number of tasks the pool may run at once right now. */
  get limit(): number {
    return this.current;
  }

  /**
   * Records a finished attempt and decreases at once when throttling crossed both thresholds.
   * `startedAt` matters: attempts that began before the last decrease were sent at the old, higher
   * limit, so their 429s say nothing about the new one (TCP's "one decrease per window of data").
   */
  record(outcome: AttemptOutcome, startedAt: number, at: number): AimdDecision {
    if (outcome !== 'cancelled') this.window.push({ at, startedAt, throttled: outcome === 'throttled' });
    return this.evaluate(at, false);
  }

  /** Called periodically: decreases if needed, else adds one slot once per increase interval. */
  tick(at: number): AimdDecision {
    return this.evaluate(at, true);
  }

  private evaluate(at: number, mayIncrease: boolean): AimdDecision {
    this.prune(at);
    const counted = this.window.filter((e) => e.startedAt >= this.lastDecreaseAt);
    const throttled = counted.filter((e) => e.throttled).length;
    const finished = counted.length;
    const from = this.current;
    const decision = (kind: AimdDecision['kind']): AimdDecision => ({ kind, from, limit: this.current, throttled, finished, at });

    const over = throttled >= this.cfg.minThrottled && throttled >= this.cfg.throttledRatio * finished;
    if (over) {
      if (this.current <= this.cfg.minLimit) return decision('hold');
      this.current = Math.max(this.cfg.minLimit, Math.floor(this.current / 2));
      this.lastDecreaseAt = at;
      // The additive-increase clock restarts so the pool holds the halved limit for a full interval.
      this.lastIncreaseAt = at;
      return decision('decrease');
    }
    if (mayIncrease && at - this.lastIncreaseAt >= this.cfg.increaseIntervalMs) {
      this.lastIncreaseAt = at;
      if (this.current < this.cfg.maxLimit) {
        this.current += 1;
        return decision('increase');
      }
    }
    return decision('hold');
  }

  private prune(at: number): void {
    const from = at - this.cfg.windowMs;
    let i = 0;
    while (i < this.window.length && this.window[i]!.at <= from) i++;
    if (i > 0) this.window = this.window.slice(i);
  }
}
