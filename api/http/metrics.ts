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
    help: 'Requests answered 429 by tenant and reason (backlog, inflight_quota, batch_limit, lane_admission)',
    labelNames: ['tenant', 'reason'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'tideway_api_errors_total',
    help: 'Requests answered 4xx or 5xx by tenant (none before authentication), status code and error type',
    labelNames: ['tenant', 'status', 'type'] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'tideway_api_' });
  }

  /** Counts one error answer (and a 429 by its reason). */
  answeredError(tenant: string | undefined, status: number, e: { type: string; reason?: string }): void {
    const t = tenant || 'none';
    this.errors.inc({ tenant: t, status: String(status), type: e.type });
    if (status === 429) this.throttled.inc({ tenant: t, reason: e.reason ?? 'unknown' });
  }

  /** Exports the lane admission gate's state (admission/), read from its snapshot at scrape time. */
  watchAdmission(gate: AdmissionGate): void {
    const registers = [this.registry];
    new Gauge({
      name: 'tideway_admission_rate',
      help: 'Lane admission: starts per second this process admits per paced lane (adaptive: the current AIMD rate)',
      labelNames: ['lane'] as const,
      registers,
      collect() {
        this.reset();
        for (const [lane, rate] of Object.entries(gate.rates())) this.set({ lane }, rate);
      },
    });
    new Gauge({
      name: 'tideway_admission_waiting',
      help: 'Lane admission: submits waiting for a start permit per paced lane',
      labelNames: ['lane'] as const,
      registers,
      collect() {
        this.reset();
        for (const [lane, n] of Object.entries(gate.snapshot().waiting)) this.set({ lane }, n);
      },
    });
    new Gauge({
      name: 'tideway_admission_shared_by',
      help: 'Lane admission: processes sharing this fixed budget (scope cluster), this one included; its rates are budget / this',
      registers,
      collect() {
        this.reset();
        const n = gate.snapshot().sharedBy;
        if (n !== undefined) this.set(n);
      },
    });
    new Gauge({
      name: 'tideway_admission_objective_seconds',
      help: "Adaptive admission: the high lane's queue-wait objective (p99) it protects",
      registers,
      collect() {
        this.reset();
        const ms = gate.snapshot().objectiveMs;
        if (ms !== undefined) this.set(ms / 1000);
      },
    });
    new Gauge({
      name: 'tideway_admission_pressure',
      help: 'Adaptive admission: the worst health input relative to its budget at the last tick (>= 1: slow the lower lanes)',
      registers,
      collect() {
        this.reset();
        const p = gate.snapshot().health?.pressure;
        if (p !== undefined) this.set(p);
      },
    });
    new Counter({
      name: 'tideway_admission_decisions_total',
      help: 'Adaptive admission: rate changes per paced lane and direction (increase, decrease)',
      labelNames: ['lane', 'decision'] as const,
      registers,
      collect() {
        this.reset();
        for (const [lane, counts] of Object.entries(gate.snapshot().decisionCounts ?? {})) {
          for (const [decision, n] of Object.entries(counts)) if (n > 0) this.inc({ lane, decision }, n);
        }
      },
    });
  }
}
