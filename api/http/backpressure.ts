import type { Client } from '@temporalio/client';
import { describeQueueStats, type QueueStats as BaseQueueStats } from '../../temporal/queue-stats';
import { visibilityQuery } from '../../config/visibility';
import type { Logger } from '../../config/log';
import { TooManyRequestsError } from './errors';

/**
 * Flow control at the edge: a pool whose backlog (or oldest task) passes its limit refuses new
 * submits with 429, heavy-hitter tenants first, and each tenant has a cap on tasks in flight.
 */

/** Backlog facts of one activity task queue, as Temporal reports them (about 5 s stale at most). */
export interface QueueStats extends BaseQueueStats {
  /** When we read them (ms since epoch). */
  at: number;
}

/** Reads `describeTaskQueue` stats with a short cache and one request in flight per queue. */
export class QueueStatsReader {
  private readonly cache = new Map<string, { stats?: QueueStats; pending?: Promise<QueueStats> }>();
  constructor(
    private readonly client: Client,
    private readonly ttlMs = 1_000,
  ) {}

  /** Stats of `taskQueue`, at most `ttlMs` older than Temporal's own cache. */
  async read(taskQueue: string): Promise<QueueStats> {
    const slot = this.cache.get(taskQueue) ?? {};
    this.cache.set(taskQueue, slot);
    if (slot.stats && Date.now() - slot.stats.at < this.ttlMs) return slot.stats;
    if (slot.pending) return slot.pending;
    slot.pending = this.fetch(taskQueue).finally(() => {
      slot.pending = undefined;
    });
    slot.stats = await slot.pending;
    return slot.stats;
  }

  private async fetch(taskQueue: string): Promise<QueueStats> {
    return { ...(await describeQueueStats(this.client, taskQueue)), at: Date.now() };
  }
}

/**
 * Space-Saving heavy-hitter sketch (Metwally et al.): at most `capacity` counters whatever the
 * number of keys. `count` over-estimates by at most `error`, so `count - error` is a guaranteed
 * lower bound — a quiet key that inherited a big counter is never mistaken for a heavy one.
 */
export class SpaceSaving {
  private readonly counters = new Map<string, { count: number; error: number }>();
  private sum = 0;
  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Total weight seen (after decay). */
  get total(): number {
    return this.sum;
  }

  get size(): number {
    return this.counters.size;
  }

  add(key: string, weight = 1): void {
    this.sum += weight;
    const c = this.counters.get(key);
    if (c) {
      c.count += weight;
      return;
    }
    if (this.counters.size < this.capacity) {
      this.counters.set(key, { count: weight, error: 0 });
      return;
    }
    // Evict the smallest counter; the newcomer inherits its count as possible error.
    let minKey = '';
    let min = Infinity;
    for (const [k, v] of this.counters) {
      if (v.count < min) {
        min = v.count;
        minKey = k;
      }
    }
    this.counters.delete(minKey);
    this.counters.set(key, { count: min + weight, error: min });
  }

  /** Guaranteed lower bound of a key's weight. */
  lowerBound(key: string): number {
    const c = this.counters.get(key);
    return c ? c.count - c.error : 0;
  }

  /** Upper-bound estimate of a key's weight. */
  estimate(key: string): number {
    return this.counters.get(key)?.count ?? 0;
  }

  /** Lower-bound share of the total, in [0, 1]. */
  share(key: string): number {
    return this.sum > 0 ? this.lowerBound(key) / this.sum : 0;
  }

  /** Multiplies every weight by `factor` (exponential forgetting, so "recent" traffic counts most). */
  decay(factor: number): void {
    this.sum *= factor;
    for (const [k, v] of this.counters) {
      v.count *= factor;
      v.error *= factor;
      if (v.count < 1e-3) this.counters.delete(k);
    }
  }

  /** The heaviest keys, largest first. */
  top(n = 10): { key: string; count: number; error: number }[] {
    return [...this.counters.entries()]
      .map(([key, v]) => ({ key, ...v }))
      .sort((a, b) => b.count - a.count)
      .slice(0, n);
  }
}

export interface BackpressureOptions {
  /** Backlog (tasks waiting in the pool's queue) above which submits are refused. @default 10000 */
  maxBacklog?: number;
  /** Age of the oldest waiting task above which submits are refused, in ms. @default unset (off) */
  maxBacklogAgeMs?: number;
  /** A tenant whose (lower-bound) share of the pool's recent submits reaches this is throttled first. @default 0.25 */
  heavyShare?: number;
  /** Above `maxBacklog × hardLimitFactor` every tenant is refused. @default 4 */
  hardLimitFactor?: number;
  /** Counters kept per pool by the heavy-hitter sketch. @default 64 */
  sketchCapacity?: number;
  /** Every this many ms the sketch's weights are halved. @default 10000 */
  decayIntervalMs?: number;
  /** How stale backlog stats may be, in ms. @default 1000 */
  statsTtlMs?: number;
  /** Per-tenant cap on open tasks (0 = none). @default 0 */
  tenantInflightLimit?: number;
  /** How long a tenant's in-flight count from visibility is trusted, in ms. @default 2000 */
  inflightTtlMs?: number;
}

type Compiled = Required<Omit<BackpressureOptions, 'maxBacklogAgeMs'>> & { maxBacklogAgeMs: number | undefined };

/** Applies defaults once; impossible values throw naming the field. */
export function compileBackpressure(o: BackpressureOptions = {}): Readonly<Compiled> {
  const c: Compiled = {
    maxBacklog: o.maxBacklog ?? 10_000,
    maxBacklogAgeMs: o.maxBacklogAgeMs,
    heavyShare: o.heavyShare ?? 0.25,
    hardLimitFactor: o.hardLimitFactor ?? 4,
    sketchCapacity: o.sketchCapacity ?? 64,
    decayIntervalMs: o.decayIntervalMs ?? 10_000,
    statsTtlMs: o.statsTtlMs ?? 1_000,
    tenantInflightLimit: o.tenantInflightLimit ?? 0,
    inflightTtlMs: o.inflightTtlMs ?? 2_000,
  };
  if (!(c.maxBacklog >= 0)) throw new RangeError('backpressure.maxBacklog must be >= 0');
  if (!(c.heavyShare > 0 && c.heavyShare <= 1)) throw new RangeError('backpressure.heavyShare must be in (0, 1]');
  if (!(c.hardLimitFactor >= 1)) throw new RangeError('backpressure.hardLimitFactor must be >= 1');
  if (!(c.tenantInflightLimit >= 0)) throw new RangeError('backpressure.tenantInflightLimit must be >= 0');
  return Object.freeze(c);
}

/** A decision to refuse, for logs and the error's details. */
interface Refusal {
  reason: 'backlog' | 'inflight_quota';
  retryAfterSeconds: number;
  message: string;
  facts: Record<string, unknown>;
}

/** Backpressure for every pool plus the per-tenant in-flight quota. */
export class Backpressure {
  readonly settings: Readonly<Compiled>;
  private readonly sketches = new Map<string, SpaceSaving>();
  private readonly inflight = new Map<string, { count: number; at: number; pending?: Promise<number> }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: Client,
    readonly stats: QueueStatsReader,
    opts: BackpressureOptions = {},
    private readonly log?: Logger,
    private readonly onThrottle?: (tenant: string, reason: string) => void,
  ) {
    this.settings = compileBackpressure(opts);
    this.timer = setInterval(() => {
      for (const s of this.sketches.values()) s.decay(0.5);
    }, this.settings.decayIntervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** The heavy-hitter sketch of a pool's queue (created on first use; one per pool, so bounded). */
  sketch(taskQueue: string): SpaceSaving {
    let s = this.sketches.get(taskQueue);
    if (!s) {
      s = new SpaceSaving(this.settings.sketchCapacity);
      this.sketches.set(taskQueue, s);
    }
    return s;
  }

  /** Whether a pool is past its limits right now (for `GET /v1/pools`). */
  overloaded(s: QueueStats): boolean {
    const { maxBacklog, maxBacklogAgeMs } = this.settings;
    return s.backlog > maxBacklog || (maxBacklogAgeMs !== undefined && s.backlogAgeMs > maxBacklogAgeMs);
  }

  /**
   * Admits `n` submits of `tenant` to `taskQueue` or throws TooManyRequestsError. Every attempt
   * counts towards the tenant's share, so a flooding tenant stays "heavy" while it keeps trying.
   */
  async admit(tenant: string, taskQueue: string, n = 1): Promise<void> {
    const sketch = this.sketch(taskQueue);
    sketch.add(tenant, n);
    const refusal = (await this.backlogRefusal(tenant, taskQueue, sketch)) ?? (await this.quotaRefusal(tenant, n));
    if (!refusal) return;
    this.onThrottle?.(tenant, refusal.reason);
    this.log?.info(
      { tenant, taskQueue, ...refusal.facts, reason: refusal.reason, retryAfterSeconds: refusal.retryAfterSeconds },
      'submit throttled',
    );
    throw new TooManyRequestsError(refusal.message, refusal.retryAfterSeconds, refusal.reason, refusal.facts);
  }

  /**
   * Counts `n` submits of `tenant` to `taskQueue` without deciding anything: a bulk is accepted
   * durably whatever the backlog (its intake paces the starts), but its tenant still weighs as the
   * heavy hitter it is when its interactive submits meet a full pool.
   */
  record(tenant: string, taskQueue: string, n: number): void {
    this.sketch(taskQueue).add(tenant, n);
  }

  /** Records that `n` of the tenant's submits were started (keeps the cached in-flight count honest). */
  started(tenant: string, n = 1): void {
    const c = this.inflight.get(tenant);
    if (c) c.count += n;
  }

  private async backlogRefusal(tenant: string, taskQueue: string, sketch: SpaceSaving): Promise<Refusal | undefined> {
    const s = await this.stats.read(taskQueue);
    if (!this.overloaded(s)) return undefined;
    const { maxBacklog, hardLimitFactor, heavyShare } = this.settings;
    const share = sketch.share(tenant);
    const hard = s.backlog > maxBacklog * hardLimitFactor;
    if (!hard && share < heavyShare) return undefined;
    // Time for the pool to drain back under its limit at the current dispatch rate, clamped.
    const excess = Math.max(1, s.backlog - maxBacklog);
    const retryAfterSeconds = s.dispatchRate > 0 ? Math.min(60, Math.max(1, Math.ceil(excess / s.dispatchRate))) : 5;
    return {
      reason: 'backlog',
      retryAfterSeconds,
      message: hard
        ? `pool ${taskQueue} is far over its backlog limit; all submits are refused for now`
        : `pool ${taskQueue} is over its backlog limit and this tenant sends ${(share * 100).toFixed(0)}% of its recent submits`,
      facts: { taskQueue, backlog: s.backlog, backlogAgeMs: s.backlogAgeMs, maxBacklog, share: Number(share.toFixed(3)), hard },
    };
  }

  private async quotaRefusal(tenant: string, n: number): Promise<Refusal | undefined> {
    const limit = this.settings.tenantInflightLimit;
    if (limit <= 0) return undefined;
    const inflight = await this.inflightCount(tenant);
    if (inflight + n <= limit) return undefined;
    return {
      reason: 'inflight_quota',
      retryAfterSeconds: 2,
      message: `tenant has ${inflight} tasks in flight; the quota is ${limit}`,
      facts: { inflight, limit },
    };
  }

  private async inflightCount(tenant: string): Promise<number> {
    const c = this.inflight.get(tenant);
    if (c && Date.now() - c.at < this.settings.inflightTtlMs) return c.count;
    if (c?.pending) return c.pending;
    const slot = c ?? { count: 0, at: 0 };
    this.inflight.set(tenant, slot);
    slot.pending = this.client.workflow
      .count(visibilityQuery({ tenant }, { running: true }))
      .then((r) => r.count)
      .finally(() => {
        slot.pending = undefined;
      });
    slot.count = await slot.pending;
    slot.at = Date.now();
    return slot.count;
  }
}
