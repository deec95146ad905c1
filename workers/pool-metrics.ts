import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AttemptOutcome } from './aimd';
import type { SlotSnapshot } from './slots';

/** What /healthz reports; `draining` answers 503 so a load balancer or kubelet stops counting on it. */
export interface PoolHealth {
  status: 'ok' | 'draining';
  group: string;
  lane: string;
  taskQueue: string;
  inFlight: number;
  slots: SlotSnapshot;
}

/** Where to read a pool's current counts from; metrics are computed at scrape time. */
export interface PoolMetricsSource {
  group: string;
  lane: string;
  taskQueue: string;
  concurrency: number;
  slots(): SlotSnapshot;
  inFlight(): number;
  draining(): boolean;
}

/** Prometheus metrics of one pool process, in its own registry (so tests can run several in one process). */
export class PoolMetrics {
  readonly registry = new Registry();
  private readonly attempts: Counter<'task_type' | 'outcome'>;
  private readonly throttled: Counter<'task_type'>;
  private readonly durations: Histogram<'task_type' | 'outcome'>;
  private readonly queueWaits: Histogram<'task_type'>;
  private readonly aimdChanges: Counter<'direction'>;

  constructor(private readonly src: PoolMetricsSource) {
    const r = [this.registry];
    this.registry.setDefaultLabels({ group: src.group, lane: src.lane, task_queue: src.taskQueue });
    collectDefaultMetrics({ register: this.registry, prefix: 'tideway_pool_process_' });
    new Gauge({
      name: 'tideway_pool_tasks_in_flight',
      help: 'Handler attempts running in this process now.',
      registers: r,
      collect() {
        this.set(src.inFlight());
      },
    });
    new Gauge({
      name: 'tideway_pool_slots',
      help: 'Activity slots: limit (AIMD), max (configured concurrency), issued (running or polling), used (running).',
      labelNames: ['kind'],
      registers: r,
      collect() {
        const s = src.slots();
        this.set({ kind: 'limit' }, s.limit);
        this.set({ kind: 'max' }, src.concurrency);
        this.set({ kind: 'issued' }, s.issued);
        this.set({ kind: 'used' }, s.used);
      },
    });
    new Gauge({
      name: 'tideway_pool_draining',
      help: '1 once SIGTERM was received and the pool stopped polling.',
      registers: r,
      collect() {
        this.set(src.draining() ? 1 : 0);
      },
    });
    this.attempts = new Counter({
      name: 'tideway_pool_attempts_total',
      help: 'Finished handler attempts by outcome (ok, throttled, failed, cancelled).',
      labelNames: ['task_type', 'outcome'],
      registers: r,
    });
    this.throttled = new Counter({
      name: 'tideway_pool_throttled_total',
      help: 'Attempts that ended with a throttled error (429-like).',
      labelNames: ['task_type'],
      registers: r,
    });
    this.durations = new Histogram({
      name: 'tideway_pool_task_duration_seconds',
      help: 'Duration of handler attempts in this process.',
      labelNames: ['task_type', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: r,
    });
    this.queueWaits = new Histogram({
      name: 'tideway_pool_queue_wait_seconds',
      help: "Time from an attempt's scheduling to its start in this process (the wait in the lane's queue; retries: from the retry's scheduling).",
      labelNames: ['task_type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
      registers: r,
    });
    this.aimdChanges = new Counter({
      name: 'tideway_pool_aimd_changes_total',
      help: 'Adaptive concurrency limit changes by direction.',
      labelNames: ['direction'],
      registers: r,
    });
  }

  /** Records one finished attempt. */
  attempt(taskType: string, outcome: AttemptOutcome, durationMs: number): void {
    this.attempts.inc({ task_type: taskType, outcome });
    if (outcome === 'throttled') this.throttled.inc({ task_type: taskType });
    this.durations.observe({ task_type: taskType, outcome }, durationMs / 1000);
  }

  /** Records how long an attempt waited in the queue before this process started it. */
  queueWait(taskType: string, waitMs: number): void {
    // Server and worker clocks may differ by a little: never a negative wait.
    this.queueWaits.observe({ task_type: taskType }, Math.max(0, waitMs) / 1000);
  }

  aimdChange(direction: 'increase' | 'decrease'): void {
    this.aimdChanges.inc({ direction });
  }

  health(): PoolHealth {
    return {
      status: this.src.draining() ? 'draining' : 'ok',
      group: this.src.group,
      lane: this.src.lane,
      taskQueue: this.src.taskQueue,
      inFlight: this.src.inFlight(),
      slots: this.src.slots(),
    };
  }

  /** Serves GET /healthz and GET /metrics; port 0 picks a free one (see `port` of the result). */
  async listen(port: number, host: string): Promise<{ server: Server; port: number }> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/healthz') {
        const h = this.health();
        res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(h));
        return;
      }
      if (req.method === 'GET' && path === '/metrics') {
        this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(text);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(String(err));
          },
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'NotFound', message: `no route ${req.method} ${path}` } }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    // Scrapes must never keep a drained process alive.
    server.unref();
    return { server, port: (server.address() as AddressInfo).port };
  }
}
