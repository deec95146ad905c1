import { EventEmitter } from 'node:events';
import type { Logger } from '../config/log';
import type { Actuator } from './actuators/actuator';
import { MeanDurationEstimator } from './mean-duration';
import type { ScalerMetrics } from './metrics';
import type { CompiledScalerOptions } from './options';
import { decideAll, type PoolDecision, type PoolPolicyState } from './policy';
import type { Signal } from './signals';
import { writeScalerState, type ScalerState } from './state';
import { emptyObservation, type PoolKey, type PoolObservation } from './types';

/** Emitted once per pool per round, after the decision and before actuation. */
export interface DecisionEvent {
  readonly at: number;
  readonly decision: Omit<PoolDecision, 'state'>;
  readonly observation: PoolObservation;
  readonly meanDurationMs: number;
  readonly meanDurationSource: 'learned' | 'default';
}

/** Emitted when an actuator finished changing a pool's replicas. */
export interface ScaledEvent {
  readonly at: number;
  readonly pool: PoolKey;
  readonly from: number;
  readonly to: number;
  readonly reason: PoolDecision['reason'];
}

/** Emitted when a signal or the actuator failed; pools keep their size that round. */
export interface ScalerErrorEvent {
  readonly source: string;
  readonly error: Error;
}

/** Typed events tests and the CLI can await. */
export interface ScalerEvents {
  'scaler:decision': [DecisionEvent];
  'scaler:round': [{ at: number; decisions: readonly DecisionEvent[] }];
  'pool:scaled': [ScaledEvent];
  'scaler:error': [ScalerErrorEvent];
}

export interface ScalerDeps {
  options: CompiledScalerOptions;
  signals: readonly Signal[];
  actuator: Actuator;
  logger?: Logger;
  metrics?: ScalerMetrics;
  /** Rewritten after every round (see scaler/state.ts). */
  stateFile?: string;
  /** Clock; the simulator passes a virtual one. @default Date.now */
  now?: () => number;
}

/**
 * The scaling loop: every interval it reads all signals, runs the pure policy for all pools,
 * logs each decision as one JSON line with its inputs and reason, exports metrics, and tells the
 * actuator. Rounds never overlap; a failed signal read holds every pool at its size for that round.
 */
export class Scaler extends EventEmitter<ScalerEvents> {
  private readonly states = new Map<PoolKey, PoolPolicyState>();
  private readonly estimator: MeanDurationEstimator;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly deps: ScalerDeps) {
    super();
    this.now = deps.now ?? Date.now;
    this.estimator = new MeanDurationEstimator(deps.options.defaultMeanDurationMs, deps.options.learnMeanDuration);
  }

  get options(): CompiledScalerOptions {
    return this.deps.options;
  }

  /** Starts the loop: one round now, then one per interval. */
  start(): void {
    this.stopped = false;
    const loop = async () => {
      this.running = this.round().catch((err: unknown) => this.fail('round', err));
      await this.running;
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.deps.options.intervalMs);
    };
    void loop();
  }

  /** Stops the loop after the current round; `stopPools` also drains the pools (process actuator). */
  async stop(opts: { stopPools?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.deps.actuator.close(opts);
  }

  /** Runs one round: observe, decide, log, actuate. Returns the decisions (empty when a signal failed). */
  async round(): Promise<DecisionEvent[]> {
    const { options, signals, actuator } = this.deps;
    const now = this.now();
    const obs = new Map<PoolKey, PoolObservation>(options.pools.map((p) => [p.key, emptyObservation()]));
    try {
      const readings = await Promise.all(signals.map((s) => s.read(options.pools, now)));
      for (const r of readings) for (const [k, part] of r) if (obs.has(k)) Object.assign(obs.get(k)!, part);
    } catch (err) {
      this.fail('signal', err);
      return [];
    }
    let currents: number[];
    try {
      currents = await Promise.all(options.pools.map((p) => actuator.replicas(p)));
    } catch (err) {
      this.fail('actuator', err);
      return [];
    }
    const inputs = options.pools.map((pool, i) => {
      const o = obs.get(pool.key)!;
      this.estimator.observe(pool.key, o);
      return {
        pool,
        obs: o,
        meanDurationMs: this.estimator.get(pool.key).ms,
        current: currents[i] ?? 0,
        now,
        state: this.states.get(pool.key),
      };
    });
    const decisions = decideAll(inputs, options);
    const events: DecisionEvent[] = decisions.map((d, i) => {
      this.states.set(d.pool, d.state);
      const { state: _state, ...decision } = d;
      const md = this.estimator.get(d.pool);
      const observation = inputs[i]!.obs;
      this.deps.metrics?.record(d, observation, md.ms);
      this.deps.logger?.info(
        {
          event: 'scaler:decision',
          pool: d.pool,
          current: d.current,
          target: d.target,
          recommended: d.recommended,
          reason: d.reason,
          idle: d.idle,
          desiredConcurrency: +d.desiredConcurrency.toFixed(2),
          backlog: observation.backlog,
          backlogAgeMs: observation.backlogAgeMs,
          addRate: +observation.addRate.toFixed(3),
          dispatchRate: +observation.dispatchRate.toFixed(3),
          inFlight: observation.inFlight,
          meanDurationMs: Math.round(md.ms),
          meanDurationSource: md.source,
          forecastTasks: d.forecastTasks,
          leadMs: d.leadMs,
          nextFireAt: observation.fires[0] ? new Date(observation.fires[0].at).toISOString() : null,
          nextFireTasks: observation.fires[0]?.expectedTasks ?? null,
          nextFireSize: observation.fires[0]?.sizeSource ?? null,
        },
        `${d.pool}: ${d.current} -> ${d.target} (${d.reason})`,
      );
      return { at: now, decision, observation, meanDurationMs: md.ms, meanDurationSource: md.source };
    });
    for (const e of events) this.emit('scaler:decision', e);
    this.emit('scaler:round', { at: now, decisions: events });

    await Promise.all(
      decisions.map(async (d, i) => {
        if (d.target === d.current) return;
        const pool = options.pools[i]!;
        try {
          await actuator.scale(pool, d.target);
          this.emit('pool:scaled', { at: this.now(), pool: d.pool, from: d.current, to: d.target, reason: d.reason });
          this.deps.logger?.info(
            { event: 'pool:scaled', pool: d.pool, from: d.current, to: d.target, reason: d.reason },
            `${d.pool} scaled to ${d.target}`,
          );
        } catch (err) {
          this.fail('actuator', err);
        }
      }),
    );
    if (this.deps.stateFile) this.writeState(events);
    return events;
  }

  private writeState(events: readonly DecisionEvent[]): void {
    const state: ScalerState = {
      updatedAt: new Date(this.now()).toISOString(),
      pid: process.pid,
      actuator: this.deps.actuator.type,
      intervalMs: this.deps.options.intervalMs,
      pools: events.map((e) => {
        const pool = this.deps.options.pools.find((p) => p.key === e.decision.pool)!;
        return {
          pool: pool.key,
          group: pool.group,
          lane: pool.lane,
          taskQueue: pool.taskQueue,
          backlog: e.observation.backlog,
          backlogAgeMs: e.observation.backlogAgeMs,
          addRate: e.observation.addRate,
          dispatchRate: e.observation.dispatchRate,
          inFlight: e.observation.inFlight,
          meanDurationMs: e.meanDurationMs,
          meanDurationSource: e.meanDurationSource,
          replicas: e.decision.current,
          desired: e.decision.target,
          recommended: e.decision.recommended,
          reason: e.decision.reason,
          minReplicas: pool.minReplicas,
          maxReplicas: pool.maxReplicas,
          nextFires: e.observation.fires.slice(0, 5).map((f) => ({
            at: new Date(f.at).toISOString(),
            scheduleId: f.scheduleId,
            taskType: f.taskType,
            expectedTasks: f.expectedTasks,
            sizeSource: f.sizeSource ?? 'declared',
            ...(f.maxParallel !== undefined ? { maxParallel: f.maxParallel } : {}),
          })),
        };
      }),
    };
    try {
      writeScalerState(this.deps.stateFile!, state);
    } catch (err) {
      this.fail('state-file', err);
    }
  }

  private fail(source: string, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.deps.metrics?.errors.inc({ source });
    this.deps.logger?.warn({ event: 'scaler:error', source, err: error.message }, `scaler ${source} error; pools keep their size`);
    if (this.listenerCount('scaler:error') > 0) this.emit('scaler:error', { source, error });
  }
}
