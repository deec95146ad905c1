/**
 * The scaling policy: pure functions from observations to replica counts. The live scaler and the
 * simulator (bench/scaler.ts) both call exactly these, so the benchmark measures the shipped code.
 */
import type { Lane } from '../config/names';
import type { CompiledScalerOptions } from './options';
import type { PoolKey, PoolObservation, ScaledPool } from './types';

/** Why a decision came out the way it did (logged, exported as a metric label). */
export type DecisionReason = 'steady' | 'scale-up' | 'prewarm' | 'stabilizing' | 'scale-down' | 'scale-to-zero' | 'budget';

/** What the policy remembers about one pool between decisions. */
export interface PoolPolicyState {
  /** Time of the first decision; nothing scales down before one stabilization window has passed. */
  readonly since: number;
  /** Raw recommendations within the stabilization window. */
  readonly history: readonly { readonly at: number; readonly replicas: number }[];
  /** Last time the pool had backlog, running work or arrivals. */
  readonly lastActiveAt: number | undefined;
}

/** Everything one pool decision depends on. */
export interface PoolPolicyInput {
  readonly pool: ScaledPool;
  readonly obs: PoolObservation;
  readonly meanDurationMs: number;
  /** Replicas the actuator reports now. */
  readonly current: number;
  readonly now: number;
  readonly state: PoolPolicyState | undefined;
}

/** One pool's decision with the numbers that led to it. */
export interface PoolDecision {
  readonly pool: PoolKey;
  readonly lane: Lane;
  readonly current: number;
  /** Tasks expected from cron fires within the lead time. */
  readonly forecastTasks: number;
  readonly leadMs: number;
  readonly desiredConcurrency: number;
  /** Replicas the formula asks for, clamped to bounds (before stabilization and budget). */
  readonly recommended: number;
  /** Replicas to run. */
  readonly target: number;
  readonly reason: DecisionReason;
  readonly idle: boolean;
  readonly state: PoolPolicyState;
}

/** Rates below this (tasks/s) count as no traffic; the server's 30 s averages decay slowly. */
const RATE_EPSILON = 0.01;

/** Lead time of a pool: its start-up time plus one decision interval, so a fire between decisions is not missed. */
export function leadTimeMs(pool: ScaledPool, opts: Pick<CompiledScalerOptions, 'intervalMs'>): number {
  return pool.startupSeconds * 1_000 + opts.intervalMs;
}

/** Work a forecast fire brings: its tasks, their mean duration, and the most of them that run at once. */
export interface FireLoad {
  readonly tasks: number;
  /** @default the pool's mean duration */
  readonly meanDurationMs?: number;
  /** A batch's `maxParallel`. @default no cap */
  readonly maxParallel?: number;
}

/**
 * Slots that work off `tasks` queued tasks of mean duration `meanDurationMs` within the target
 * drain time: never more than there are tasks, nor than `cap` (a batch's parallel limit).
 */
export function drainSlots(tasks: number, meanDurationMs: number, targetDrainMs: number, cap = Number.POSITIVE_INFINITY): number {
  if (tasks <= 0) return 0;
  return Math.min(tasks, cap, (tasks * (meanDurationMs / 1_000)) / Math.max(targetDrainMs / 1_000, 1e-3));
}

/**
 * Concurrency a pool needs: arrival rate × mean duration (Little's law) plus the slots that work
 * off the queued tasks within the target drain time, never fewer than the tasks already running.
 * Queued tasks are the backlog and `forecastTasks` (at the pool's mean duration) and each of `fires`
 * (at its own duration and cap). min(q, q·d/T) is linear in q for one d, so planning the backlog and
 * each fire apart gives exactly the pooled answer when durations are equal and no cap applies.
 */
export function desiredConcurrency(args: {
  addRate: number;
  backlog: number;
  forecastTasks?: number;
  fires?: readonly FireLoad[];
  inFlight: number;
  meanDurationMs: number;
  targetDrainMs: number;
}): number {
  const d = args.meanDurationMs;
  const T = args.targetDrainMs;
  let slots = drainSlots(args.backlog + (args.forecastTasks ?? 0), d, T);
  for (const f of args.fires ?? []) slots += drainSlots(f.tasks, f.meanDurationMs ?? d, T, f.maxParallel);
  return Math.max(args.addRate * (d / 1_000) + slots, args.inFlight);
}

/** Replicas for a concurrency (a float guard keeps 40/20 at 2, not 3). */
export function replicasFor(concurrency: number, perReplica: number): number {
  return concurrency <= 0 ? 0 : Math.ceil(concurrency / perReplica - 1e-9);
}

/** Decides one pool's replicas (before the global budget). Pure: same inputs, same answer. */
export function decidePool(input: PoolPolicyInput, opts: CompiledScalerOptions): PoolDecision {
  const { pool, obs, now, current } = input;
  const state = input.state ?? { since: now, history: [], lastActiveAt: undefined };
  const leadMs = leadTimeMs(pool, opts);
  const near = opts.forecast ? obs.fires.filter((f) => f.at >= now && f.at <= now + leadMs) : [];
  const forecastTasks = near.reduce((s, f) => s + f.expectedTasks, 0);
  const active = obs.backlog > 0 || obs.inFlight > 0 || obs.addRate > RATE_EPSILON || obs.dispatchRate > RATE_EPSILON;
  const lastActiveAt = active ? now : state.lastActiveAt;
  const idle = !active && forecastTasks === 0 && (lastActiveAt === undefined || now - lastActiveAt >= opts.idleAfterMs);

  const conc = desiredConcurrency({
    addRate: obs.addRate,
    backlog: obs.backlog,
    fires: near.map((f) => ({
      tasks: f.expectedTasks,
      ...(f.meanDurationMs !== undefined ? { meanDurationMs: f.meanDurationMs } : {}),
      ...(f.maxParallel !== undefined ? { maxParallel: f.maxParallel } : {}),
    })),
    inFlight: obs.inFlight,
    meanDurationMs: input.meanDurationMs,
    targetDrainMs: opts.targetDrainMs,
  });
  const floor = idle && opts.scaleToZero ? 0 : pool.minReplicas;
  const recommended = Math.max(floor, Math.min(replicasFor(conc, pool.concurrency), pool.maxReplicas));

  const history = [...state.history.filter((h) => h.at > now - opts.stabilizationMs), { at: now, replicas: recommended }];
  const next: PoolPolicyState = { since: state.since, history, lastActiveAt };
  const base = {
    pool: pool.key,
    lane: pool.lane,
    current,
    forecastTasks,
    leadMs,
    desiredConcurrency: conc,
    recommended,
    idle,
    state: next,
  };

  if (recommended > current) {
    // Scale up at once: queued work waits for every second of delay.
    const reason = forecastTasks > 0 && obs.backlog === 0 ? 'prewarm' : 'scale-up';
    return { ...base, target: recommended, reason };
  }
  if (recommended === current) return { ...base, target: current, reason: 'steady' };
  // Scale down only to the highest recommendation of the window, so a dip between bursts does not
  // stop replicas that the next burst needs again.
  const windowCovered = now - state.since >= opts.stabilizationMs;
  const stabilized = Math.max(...history.map((h) => h.replicas));
  if (!windowCovered || stabilized >= current) return { ...base, target: current, reason: 'stabilizing' };
  const step = Math.max(1, Math.floor(current * opts.scaleDownMaxFraction));
  const target = Math.max(stabilized, current - step);
  return { ...base, target, reason: target === 0 ? 'scale-to-zero' : 'scale-down' };
}

/** One pool's claim on the global budget. */
export interface BudgetClaim {
  readonly pool: PoolKey;
  readonly lane: Lane;
  readonly want: number;
  readonly hasBacklog: boolean;
}

const LANE_ORDER: Record<Lane, number> = { high: 0, normal: 1, low: 2 };

/**
 * Shares `budget` replicas among claims: when everything fits, everyone gets what it wants;
 * otherwise every pool with backlog first gets its floor (high lanes first, while budget lasts),
 * then the rest goes one replica at a time to the pool with the least replicas per lane weight,
 * so low lanes slow down but never starve.
 */
export function shareBudget(
  claims: readonly BudgetClaim[],
  budget: number,
  weights: Readonly<Record<Lane, number>>,
  floorReplicas: number,
): Map<PoolKey, number> {
  const granted = new Map<PoolKey, number>(claims.map((c) => [c.pool, 0]));
  const total = claims.reduce((s, c) => s + c.want, 0);
  if (total <= budget) {
    for (const c of claims) granted.set(c.pool, c.want);
    return granted;
  }
  const ordered = [...claims].sort((a, b) => LANE_ORDER[a.lane] - LANE_ORDER[b.lane]);
  let left = budget;
  for (const c of ordered) {
    if (!c.hasBacklog) continue;
    const f = Math.min(c.want, floorReplicas, left);
    granted.set(c.pool, f);
    left -= f;
  }
  while (left > 0) {
    let best: BudgetClaim | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const c of ordered) {
      const g = granted.get(c.pool) ?? 0;
      if (g >= c.want) continue;
      const score = (g + 1) / weights[c.lane];
      if (score < bestScore) {
        best = c;
        bestScore = score;
      }
    }
    if (!best) break;
    granted.set(best.pool, (granted.get(best.pool) ?? 0) + 1);
    left -= 1;
  }
  return granted;
}

/** Decides every pool, then applies the global budget; the decisions come back in pool order. */
export function decideAll(inputs: readonly PoolPolicyInput[], opts: CompiledScalerOptions): PoolDecision[] {
  const decisions = inputs.map((i) => decidePool(i, opts));
  const grants = shareBudget(
    decisions.map((d, i) => ({ pool: d.pool, lane: d.lane, want: d.target, hasBacklog: (inputs[i]?.obs.backlog ?? 0) > 0 })),
    opts.maxTotalReplicas,
    opts.laneWeights,
    opts.backlogFloorReplicas,
  );
  return decisions.map((d) => {
    const g = grants.get(d.pool) ?? d.target;
    return g < d.target ? { ...d, target: g, reason: 'budget' as const } : d;
  });
}
