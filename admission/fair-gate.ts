import { AdmissionClosedError, AdmissionThrottledError } from '../config/admission';
import type { Lane } from '../config/names';

/**
 * Start permits per lane, paced by a token bucket whose rate can change at any time (the AIMD
 * controller moves it; a fixed budget never does), and shared fairly by tenants: each tenant of a
 * lane has its own FIFO queue, and queued tenants are served round-robin, one permit each per turn,
 * so a tenant that queued 10,000 starts delays a tenant arriving later by one permit per turn, not
 * by 10,000. A token bucket that starts full with capacity `burst` is the generic cell rate
 * algorithm the fixed budgets always had: `burst` starts back to back, then one per 1/rate.
 */

/** Pace of one lane: sustained starts per second and starts allowed back to back. */
export interface LanePace {
  perSecond: number;
  burst: number;
}

/** Time and timers, injected so tests run without real waits. */
export interface GateClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: GateClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface AcquireOptions {
  /** Longest wait accepted; a longer estimated wait throws AdmissionThrottledError at once. @default Infinity */
  maxWaitMs?: number;
  /** Aborts a wait: the call rejects with the signal's reason and takes no permit. */
  signal?: AbortSignal;
}

interface Waiter {
  tenant: string;
  grant(): void;
  fail(err: unknown): void;
}

/** A FIFO with O(1) shift (a flood can queue many waiters of one tenant). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    this.items.push(v);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  remove(v: T): boolean {
    const i = this.items.indexOf(v, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }
}

class LaneState {
  tokens: number;
  last: number;
  /** Tenants with waiters, in service order: the head is served next, then goes to the back. */
  readonly ring: string[] = [];
  readonly queues = new Map<string, Fifo<Waiter>>();
  timer: unknown;
  /** Demand reached the rate since the controller last asked (a start had to wait or was refused). */
  limited = false;

  constructor(
    public pace: LanePace,
    now: number,
  ) {
    this.tokens = pace.burst;
    this.last = now;
  }

  refill(now: number): void {
    if (now > this.last) this.tokens = Math.min(this.pace.burst, this.tokens + ((now - this.last) * this.pace.perSecond) / 1000);
    this.last = Math.max(this.last, now);
  }

  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Starts granted before a new waiter of `tenant` in round-robin order. */
  ahead(tenant: string): number {
    const own = this.queues.get(tenant)?.length ?? 0;
    const at = this.ring.indexOf(tenant);
    let n = own;
    this.ring.forEach((t, i) => {
      if (t === tenant) return;
      // Tenants before ours in the ring get one more turn than ours has before the new waiter.
      const turns = at < 0 || i < at ? own + 1 : own;
      n += Math.min(this.queues.get(t)?.length ?? 0, turns);
    });
    return n;
  }
}

/** Per-lane paced, per-tenant fair start permits. Lanes without a pace (and always `high`) never wait. */
export class FairGate {
  private readonly lanes = new Map<Lane, LaneState>();
  private closed = false;

  constructor(private readonly clock: GateClock = systemClock) {}

  /** Sets (or with undefined removes) a lane's pace; waiters are re-timed at the new rate. */
  setPace(lane: Lane, pace: LanePace | undefined): void {
    const now = this.clock.now();
    const s = this.lanes.get(lane);
    if (!pace || lane === 'high') {
      if (!s) return;
      this.lanes.delete(lane);
      this.clearTimer(s);
      // Unpaced from now on: whoever waited goes at once.
      for (const t of s.ring) for (let w = s.queues.get(t)?.shift(); w; w = s.queues.get(t)?.shift()) w.grant();
      return;
    }
    if (!(pace.perSecond > 0) || !(pace.burst >= 1)) throw new RangeError(`pace of ${lane}: perSecond > 0 and burst >= 1`);
    if (!s) {
      this.lanes.set(lane, new LaneState(pace, now));
      return;
    }
    s.refill(now); // what accrued so far, at the old rate
    s.pace = pace;
    s.tokens = Math.min(s.tokens, pace.burst);
    this.dispatch(lane, s);
  }

  /** The lane's pace; undefined = unpaced. */
  pace(lane: Lane): LanePace | undefined {
    return this.lanes.get(lane)?.pace;
  }

  /** Waits for one start permit of `lane` for `tenant` (see AdmissionGate.acquire). */
  acquire(lane: Lane, tenant: string, opts: AcquireOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new AdmissionClosedError('the admission gate is closed'));
    const s = this.lanes.get(lane);
    if (!s) return Promise.resolve();
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.clock.now();
    s.refill(now);
    if (s.ring.length === 0 && s.tokens >= 1) {
      s.tokens -= 1;
      return Promise.resolve();
    }
    s.limited = true;
    const maxWaitMs = opts.maxWaitMs ?? Number.POSITIVE_INFINITY;
    const wait = this.estimate(s, tenant);
    if (wait > maxWaitMs) return Promise.reject(throttled(lane, s, wait, maxWaitMs));

    return new Promise<void>((resolve, reject) => {
      let deadline: unknown;
      const cleanup = () => {
        if (deadline !== undefined) this.clock.clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        tenant,
        grant: () => {
          cleanup();
          resolve();
        },
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      const onAbort = () => {
        if (this.remove(lane, s, waiter)) waiter.fail(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(maxWaitMs)) {
        // The rate may fall while we wait; past maxWait the caller gets its refusal instead.
        deadline = this.clock.setTimeout(() => {
          deadline = undefined;
          this.dispatch(lane, s); // serve whoever is due first, so a waiter due now is not refused
          if (this.remove(lane, s, waiter)) waiter.fail(throttled(lane, s, this.estimate(s, tenant), 0));
        }, maxWaitMs);
      }
      let q = s.queues.get(tenant);
      if (!q) {
        q = new Fifo<Waiter>();
        s.queues.set(tenant, q);
        s.ring.push(tenant);
      }
      q.push(waiter);
      this.dispatch(lane, s);
    });
  }

  /** Whether the lane's demand reached its rate since the last call (and resets it). */
  takeLimited(lane: Lane): boolean {
    const s = this.lanes.get(lane);
    if (!s) return false;
    const v = s.limited || s.ring.length > 0;
    s.limited = false;
    return v;
  }

  /** Starts waiting for a permit in `lane`. */
  waiting(lane: Lane): number {
    return this.lanes.get(lane)?.waiting ?? 0;
  }

  /** Rejects every waiter with AdmissionClosedError and refuses new calls. */
  close(): void {
    this.closed = true;
    for (const s of this.lanes.values()) {
      this.clearTimer(s);
      for (const t of s.ring.splice(0)) {
        const q = s.queues.get(t);
        s.queues.delete(t);
        for (let w = q?.shift(); w; w = q?.shift()) w.fail(new AdmissionClosedError('the admission gate closed while a start waited'));
      }
    }
  }

  /** How long a new waiter of `tenant` would wait (ms) at the current rate. */
  private estimate(s: LaneState, tenant: string): number {
    return Math.max(0, ((s.ahead(tenant) + 1 - s.tokens) * 1000) / s.pace.perSecond);
  }

  /** Grants every permit due now, round-robin over tenants, and times the next one. */
  private dispatch(lane: Lane, s: LaneState): void {
    this.clearTimer(s);
    s.refill(this.clock.now());
    while (s.ring.length > 0 && s.tokens >= 1) {
      const tenant = s.ring.shift()!;
      const q = s.queues.get(tenant);
      const w = q?.shift();
      if (q && q.length > 0) s.ring.push(tenant);
      else s.queues.delete(tenant);
      if (w) {
        s.tokens -= 1;
        w.grant();
      }
    }
    if (s.ring.length === 0) return;
    const ms = Math.max(1, Math.ceil(((1 - s.tokens) * 1000) / s.pace.perSecond));
    s.timer = this.clock.setTimeout(() => {
      s.timer = undefined;
      if (this.lanes.get(lane) === s) this.dispatch(lane, s);
    }, ms);
  }

  private remove(lane: Lane, s: LaneState, w: Waiter): boolean {
    const q = s.queues.get(w.tenant);
    if (!q || !q.remove(w)) return false;
    if (q.length === 0) {
      s.queues.delete(w.tenant);
      s.ring.splice(s.ring.indexOf(w.tenant), 1);
    }
    this.dispatch(lane, s);
    return true;
  }

  private clearTimer(s: LaneState): void {
    if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
    s.timer = undefined;
  }
}

function throttled(lane: Lane, s: LaneState, waitMs: number, maxWaitMs: number): AdmissionThrottledError {
  // Coming back after this long, the wait would be within maxWait (if no one else queued meanwhile).
  return new AdmissionThrottledError(lane, Math.ceil(waitMs - maxWaitMs) || Math.ceil(1000 / s.pace.perSecond));
}
