import type { Client } from '@temporalio/client';
import type { Logger } from '../config/log';
import { describeQueueStats } from '../temporal/queue-stats';

/**
 * The server-health signal adaptive admission steers by. Every submitting process reads the same
 * numbers from Temporal, so they all slow down together when the server is loaded: that shared
 * signal is what keeps several replicas from multiplying the rate, with no coordinator of our own.
 *
 * - the control queue's workflow-task backlog age: every lane's workflow tasks wait there, so an
 *   old backlog means the control worker or the server is behind;
 * - the high-lane pools' activity backlog age: the high lane's own queue wait;
 * - the p90 of this process's workflow-start RPC latency, which grows as the server's persistence
 *   saturates (a signal every process has for free, and fresh, unlike the stats).
 */

/** The last inputs the controller saw; undefined = not known (not read yet, or failing). */
export interface HealthInputs {
  /** Oldest workflow task waiting in the control queue (ms). */
  controlBacklogAgeMs: number | undefined;
  /** Oldest activity task waiting in any high-lane pool queue (ms). */
  highBacklogAgeMs: number | undefined;
  /** p90 of start RPC latencies over the window (ms); undefined with too few samples. */
  startP90Ms: number | undefined;
  /** Start latencies in the window. */
  startSamples: number;
  /** p90 of the high lane's measured wait for its first workflow task (ms), from the control process's own workflows. */
  highFirstWaitP90Ms?: number | undefined;
  /** When the queue stats were last read (ms since epoch). */
  statsAt: number | undefined;
  /** The last read's error, if it failed. */
  statsError: string | undefined;
}

/** Pressure: the worst input relative to its budget; ≥ 1 means the high lane's objective is at risk. */
export interface Pressure {
  pressure: number | undefined;
  /** Each input's share of its budget (which one drove the decision). */
  parts: { controlBacklog?: number; highBacklog?: number; startLatency?: number; highFirstWait?: number };
}

/**
 * Queue backlog ages are measured against the objective itself (they are queue wait); the start
 * RPC is only one hop of a task's way to its handler, so its p90 gets half the objective.
 */
export function pressureOf(inputs: HealthInputs, objectiveMs: number): Pressure {
  const parts: Pressure['parts'] = {};
  if (inputs.controlBacklogAgeMs !== undefined) parts.controlBacklog = inputs.controlBacklogAgeMs / objectiveMs;
  if (inputs.highBacklogAgeMs !== undefined) parts.highBacklog = inputs.highBacklogAgeMs / objectiveMs;
  if (inputs.startP90Ms !== undefined) parts.startLatency = inputs.startP90Ms / (objectiveMs / 2);
  if (inputs.highFirstWaitP90Ms !== undefined) parts.highFirstWait = inputs.highFirstWaitP90Ms / (objectiveMs * HIGH_FIRST_WAIT_SHARE);
  const values = Object.values(parts);
  return { pressure: values.length ? Math.max(...values) : undefined, parts };
}

/**
 * The share of the high lane's objective its first-workflow-task wait may use (its p90 against 20%
 * of the objective). Under a flood that wait (control queue and server) was about a third of the high
 * lane's whole queue wait in bench:lanes, the rest being the workflow task's run and the pool queue,
 * which grow with it; at 30% the high lane's p99 ended above the objective in quick runs (371 ms),
 * at 20% closer (285 ms) with the low lane's share of spare capacity unchanged (55-58%).
 */
export const HIGH_FIRST_WAIT_SHARE = 0.2;

/** Latencies of the last `windowMs`, as a p90 once there are `minSamples` of them. */
export class LatencyWindow {
  private samples: { at: number; ms: number }[] = [];

  constructor(
    readonly windowMs: number,
    readonly minSamples: number,
    /** Bound on memory under a flood; the newest win. */
    readonly maxSamples = 2_000,
  ) {}

  add(at: number, ms: number): void {
    this.samples.push({ at, ms });
    if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples);
  }

  /** Drops samples older than the window and returns [count, p90 | undefined]. */
  p90(now: number): { count: number; p90: number | undefined } {
    const from = now - this.windowMs;
    const firstKept = this.samples.findIndex((s) => s.at >= from);
    this.samples = firstKept < 0 ? [] : this.samples.slice(firstKept);
    const n = this.samples.length;
    if (n < this.minSamples) return { count: n, p90: undefined };
    const sorted = this.samples.map((s) => s.ms).sort((a, b) => a - b);
    return { count: n, p90: sorted[Math.min(n - 1, Math.ceil(0.9 * n) - 1)] };
  }
}

export interface HealthMonitorOptions {
  /** Reads the queue stats; without it only start latencies count. */
  client?: Client;
  /** The control queue (workflow tasks). */
  controlQueue?: string;
  /** The high-lane pools' queues (activity tasks). */
  highQueues?: readonly string[];
  pollMs: number;
  /** Polling stops after this long without `touch()`. */
  idleMs: number;
  /** Stats older than this (reads failing meanwhile) are no longer trusted. */
  staleMs: number;
  latency: LatencyWindow;
  /** The high lane's measured first-workflow-task waits (fed only in the control process). */
  highFirstWait?: LatencyWindow;
  log?: Logger;
  now?: () => number;
}

/** Polls the queue stats while the gate is in use and keeps the start-latency window. */
export class HealthMonitor {
  private lastUsed = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  // The poll running now, awaited by close(): its calls would outlive close() otherwise, and a call
  // still retrying when its connection closes throws from a timer ("Channel has been shut down").
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private controlAge: number | undefined;
  private highAge: number | undefined;
  private statsAt: number | undefined;
  private statsError: string | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: HealthMonitorOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Marks the gate in use: polling runs (or restarts) until `idleMs` after the last touch. */
  touch(): void {
    this.lastUsed = this.now();
    if (!this.timer && !this.inFlight && !this.closed && this.opts.client) this.schedule(0);
  }

  observeStart(ms: number): void {
    this.opts.latency.add(this.now(), ms);
  }

  observeHighFirstWait(ms: number): void {
    this.opts.highFirstWait?.add(this.now(), ms);
  }

  inputs(): HealthInputs {
    const now = this.now();
    const fresh = this.statsAt !== undefined && now - this.statsAt <= this.opts.staleMs;
    const { count, p90 } = this.opts.latency.p90(now);
    return {
      controlBacklogAgeMs: fresh ? this.controlAge : undefined,
      highBacklogAgeMs: fresh ? this.highAge : undefined,
      startP90Ms: p90,
      startSamples: count,
      highFirstWaitP90Ms: this.opts.highFirstWait?.p90(now).p90,
      statsAt: this.statsAt,
      statsError: this.statsError,
    };
  }

  /** Stops polling; resolves once a poll in flight has ended, so the caller may close the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const polling: Promise<void> = this.poll().finally(() => {
        if (this.inFlight === polling) this.inFlight = undefined;
      });
      this.inFlight = polling;
    }, ms);
    // Never what keeps a process alive: a pending acquire holds its own timer.
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const client = this.opts.client;
    if (!client || this.closed) return;
    try {
      const [control, ...high] = await Promise.all([
        this.opts.controlQueue ? describeQueueStats(client, this.opts.controlQueue, 'workflow') : undefined,
        ...(this.opts.highQueues ?? []).map((q) => describeQueueStats(client, q, 'activity')),
      ]);
      this.controlAge = control?.backlogAgeMs;
      this.highAge = high.length ? Math.max(...high.map((s) => s?.backlogAgeMs ?? 0)) : undefined;
      this.statsAt = this.now();
      if (this.statsError) this.opts.log?.info({ controlQueue: this.opts.controlQueue }, 'admission: queue stats readable again');
      this.statsError = undefined;
    } catch (err) {
      const message = (err as Error).message;
      // Logged once per outage.
      if (this.statsError === undefined)
        this.opts.log?.warn({ err: message }, 'admission: cannot read queue stats; only start latencies count until they are back');
      this.statsError = message;
    }
    if (!this.closed && this.now() - this.lastUsed < this.opts.idleMs) this.schedule(this.opts.pollMs);
  }
}
