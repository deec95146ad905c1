import type { Logger } from '../../config/log';
import type { HistorySample } from './schemas';

/** A bounded ring of history samples, oldest first: the dashboard's last hour in the API's memory. */
export class SampleRing {
  private readonly buf: (HistorySample | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.buf = new Array<HistorySample | undefined>(capacity);
  }

  push(s: HistorySample): void {
    this.buf[this.next] = s;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Samples taken after `since` (all when undefined), oldest first. */
  since(since?: number): HistorySample[] {
    const out: HistorySample[] = [];
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const s = this.buf[(start + i) % this.capacity]!;
      if (since === undefined || s.at > since) out.push(s);
    }
    return out;
  }
}

export interface PoolSamplerOptions {
  /** Time between samples. @default 10 s */
  intervalMs?: number;
  /** How far back samples are kept. @default 1 h */
  windowMs?: number;
  /** Takes one sample (the API reads the same data as `GET /v1/pools`). */
  take(now: number): Promise<HistorySample>;
  now?: () => number;
  logger?: Logger;
}

/**
 * Samples the pools every `intervalMs` into a ring that holds `windowMs` of them. It lives in the
 * API process (no store to run): a restarted API starts with an empty chart, and each API replica
 * keeps its own, which is enough for a look at the last hour (Prometheus keeps the long view).
 */
export class PoolSampler {
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly ring: SampleRing;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: PoolSamplerOptions) {
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.windowMs = opts.windowMs ?? 3_600_000;
    this.ring = new SampleRing(Math.max(1, Math.ceil(this.windowMs / this.intervalMs)));
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    // Sampling alone must not keep a process (a test, a CLI in direct mode) alive.
    this.timer.unref();
  }

  /** Takes one sample now (skipped while the previous one is still being read). */
  async sample(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.opts
      .take(this.now())
      .then((s) => this.ring.push(s))
      .catch((err: unknown) =>
        this.opts.logger?.warn({ event: 'dashboard:sample-failed', err: (err as Error).message }, 'pool sample failed'),
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** Samples newer than `since` within the window, oldest first. */
  samples(since?: number): HistorySample[] {
    const floor = this.now() - this.windowMs;
    return this.ring.since(since === undefined ? floor : Math.max(since, floor));
  }

  /** Stops sampling once the read under way (if any) is done, so no RPC outlives the server's connection. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
