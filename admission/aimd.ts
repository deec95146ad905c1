/**
 * The start rate of one paced lane, adjusted by additive increase / multiplicative decrease on a
 * pressure signal (pressure ≥ 1: the high lane's objective is at risk). Every process that submits
 * reads the same server-health signal and halves together, so several of them converge on a shared
 * total without talking to each other (Chiu and Jain's result for AIMD on a common congestion
 * signal). Pure and clock-injected: the caller passes `now` to every call.
 */

/** Tuning of one lane's controller; `ADAPTIVE_DEFAULTS.aimd` holds the defaults. */
export interface AimdRateConfig {
  /** Rate a lane starts at (starts/s). */
  initial: number;
  /** Lowest rate: a lower lane is slowed, never stopped. */
  floor: number;
  /** Highest rate. */
  ceiling: number;
  /** Additive step: the larger of this many starts/s ... */
  increaseMin: number;
  /** ... and this fraction of the current rate. */
  increaseFraction: number;
  /** Least time between two increases (ms). */
  increaseIntervalMs: number;
  /** Factor applied on pressure ≥ 1. */
  decreaseFactor: number;
  /** Least time between two decreases (ms): the queue stats are up to ~5 s stale, so a second halving before the first shows would overshoot. */
  decreaseHoldMs: number;
}

/** What one `tick` did, with its inputs (for logs and `snapshot()`). */
export interface AimdDecision {
  kind: 'increase' | 'decrease' | 'hold';
  rate: number;
  previous: number;
  pressure: number | undefined;
  /** Why it held (no signal, in hold period, not limited by the rate, at a bound). */
  reason?: 'no-signal' | 'hold-period' | 'not-limited' | 'at-floor' | 'at-ceiling' | 'interval';
}

export class AimdRate {
  private value: number;
  private lastIncreaseAt = Number.NEGATIVE_INFINITY;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;

  constructor(readonly config: AimdRateConfig) {
    if (!(config.floor > 0) || config.floor > config.ceiling) throw new RangeError('AIMD needs 0 < floor <= ceiling');
    this.value = clamp(config.initial, config.floor, config.ceiling);
  }

  /** Current rate (starts/s). */
  get rate(): number {
    return this.value;
  }

  /**
   * One control step. `pressure` is the worst health input relative to its budget (undefined: no
   * reading yet, hold). `limited`: the lane's demand reached the rate since the last tick; a lane
   * that is not using its rate does not grow it, so an idle lane cannot bank a rate it never
   * proved the server could take.
   */
  tick(now: number, pressure: number | undefined, limited: boolean): AimdDecision {
    const c = this.config;
    const previous = this.value;
    const hold = (reason: AimdDecision['reason']): AimdDecision => ({ kind: 'hold', rate: previous, previous, pressure, reason });
    if (pressure === undefined) return hold('no-signal');
    if (pressure >= 1) {
      if (now - this.lastDecreaseAt < c.decreaseHoldMs) return hold('hold-period');
      if (previous <= c.floor) return hold('at-floor');
      this.value = Math.max(c.floor, previous * c.decreaseFactor);
      this.lastDecreaseAt = now;
      // An increase right after a decrease would undo it before its effect is visible.
      this.lastIncreaseAt = now;
      return { kind: 'decrease', rate: this.value, previous, pressure };
    }
    if (!limited) return hold('not-limited');
    if (now - this.lastIncreaseAt < c.increaseIntervalMs) return hold('interval');
    if (previous >= c.ceiling) return hold('at-ceiling');
    this.value = Math.min(c.ceiling, previous + Math.max(c.increaseMin, previous * c.increaseFraction));
    this.lastIncreaseAt = now;
    return { kind: 'increase', rate: this.value, previous, pressure };
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
