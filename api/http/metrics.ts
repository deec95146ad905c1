import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionGate } from '../../admission';

/** Prometheus metrics of one API server (own registry, so several servers in one process never clash). */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'tideway_api_requests_total',
    help: 'HTTP requests by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'tideway_api_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly submits = new Counter({
    name: 'tideway_api_submits_total',
    help: 'Task submits by tenant and outcome (started, duplicate, rejected)',
    labelNames: ['tenant', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: 'tideway_api_throttled_total',
    help: 'Submits refused with 429 by tenant and reason (backlog, inflight_quota)',
    labelNames: ['tenant', 'reason'] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'tideway_api_' });
  }

  /** Exports the gate's start rate per paced lane as `tideway_admission_rate{lane}`, read at scrape time. */
  watchAdmission(gate: AdmissionGate): void {
    new Gauge({
      name: 'tideway_admission_rate',
      help: 'Lane admission: starts per second this API process admits per paced lane (adaptive: the current AIMD rate)',
      labelNames: ['lane'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [lane, rate] of Object.entries(gate.rates())) this.set({ lane }, rate);
      },
    });
  }
}
