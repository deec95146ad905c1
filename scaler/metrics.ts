import { Counter, Gauge, Registry } from 'prom-client';
import type { PoolDecision } from './policy';
import type { PoolObservation } from './types';

/** Prometheus metrics of the scaler, on their own registry so other modules' metrics never collide. */
export class ScalerMetrics {
  readonly registry = new Registry();
  private readonly g = (name: string, help: string) => new Gauge({ name, help, labelNames: ['pool'], registers: [this.registry] });
  readonly replicas = this.g('tideway_scaler_replicas', 'Replicas the actuator reports for the pool');
  readonly desired = this.g('tideway_scaler_desired_replicas', 'Replicas the scaler decided for the pool');
  readonly recommended = this.g('tideway_scaler_recommended_replicas', 'Replicas the formula asks for before stabilization and budget');
  readonly concurrency = this.g('tideway_scaler_desired_concurrency', 'Task slots the pool needs by the policy formula');
  readonly backlog = this.g('tideway_scaler_backlog', 'Tasks waiting in the pool activity queue');
  readonly backlogAge = this.g('tideway_scaler_backlog_age_seconds', 'Age of the oldest waiting task');
  readonly inFlight = this.g('tideway_scaler_in_flight', 'Tasks running a handler');
  readonly forecast = this.g('tideway_scaler_forecast_tasks', 'Tasks expected from cron fires within the lead time');
  readonly meanDuration = this.g('tideway_scaler_mean_duration_seconds', 'Mean task duration the policy uses');
  readonly decisions = new Counter({
    name: 'tideway_scaler_decisions_total',
    help: 'Decisions by pool and reason',
    labelNames: ['pool', 'reason'],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'tideway_scaler_errors_total',
    help: 'Failed signal reads or actuations',
    labelNames: ['source'],
    registers: [this.registry],
  });

  /** Records one decision and the observation behind it. */
  record(d: PoolDecision, obs: PoolObservation, meanDurationMs: number): void {
    const l = { pool: d.pool };
    this.replicas.set(l, d.current);
    this.desired.set(l, d.target);
    this.recommended.set(l, d.recommended);
    this.concurrency.set(l, d.desiredConcurrency);
    this.backlog.set(l, obs.backlog);
    this.backlogAge.set(l, obs.backlogAgeMs / 1_000);
    this.inFlight.set(l, obs.inFlight);
    this.forecast.set(l, d.forecastTasks);
    this.meanDuration.set(l, meanDurationMs / 1_000);
    this.decisions.inc({ pool: d.pool, reason: d.reason });
  }
}
