import type { Client } from '@temporalio/client';
import { FIXED_ADMISSION_DEFAULTS, formatAdmission, type AdmissionMode, type AdmissionSpec } from '../config/admission';
import type { Catalog } from '../config/catalog-schema';
import type { Logger } from '../config/log';
import { admissionRegistryId, type Lane } from '../config/names';
import { AimdRate, type AimdDecision, type AimdRateConfig } from './aimd';
import { ClusterShare, shareOf } from './cluster-share';
import { FairGate, systemClock, type GateClock, type LanePace } from './fair-gate';
import { HealthMonitor, LatencyWindow, pressureOf, type HealthInputs, type Pressure } from './health';

/**
 * Lane admission: every entry path (TaskClient, the HTTP API, bulk intake, the CLI) asks the gate
 * for a permit before it starts a task's workflow. See config/admission.ts for the modes and
 * docs/decisions.md for why adaptive admission is AIMD on a shared health signal.
 */

export type { AdmissionMode } from '../config/admission';
export { AdmissionClosedError, AdmissionThrottledError } from '../config/admission';

export interface AdmissionGate {
  readonly mode: AdmissionMode;
  /**
   * Waits for a start permit for one task of `tenant` in `lane`. The high lane never waits.
   * Tenants of a lane are served round-robin (fair shares inside this process). Throws
   * AdmissionThrottledError(lane, retryAfterMs) WITHOUT taking a permit when the wait would exceed
   * maxWaitMs (default Infinity). `signal` aborts the wait (rejects with the abort reason).
   */
  acquire(lane: Lane, tenant: string, opts?: { maxWaitMs?: number; signal?: AbortSignal }): Promise<void>;
  /** Reports how long one workflow-start RPC took (ms): a health signal every process sees for free. */
  observeStart(lane: Lane, ms: number): void;
  /**
   * Reports how long a task of `lane` waited for its first workflow task (the control process hears
   * it from its own workflows): for the high lane, a direct measure of the wait admission protects.
   */
  observeFirstTaskWait(lane: Lane, ms: number): void;
  /** Current start rate per paced lane (starts/s); absent lane = unpaced. For /v1/pools, metrics, bench. */
  rates(): Partial<Record<Lane, number>>;
  /** Rates, waiters and the last health inputs and decisions, for debugging and metrics. */
  snapshot(): AdmissionSnapshot;
  /** Refuses further calls; a gate that shares a fixed budget also leaves the admission registry (awaited). */
  close(): void | Promise<void>;
}

export interface AdmissionSnapshot {
  mode: AdmissionMode['kind'];
  /** The high lane's objective (adaptive mode). */
  objectiveMs: number | undefined;
  rates: Partial<Record<Lane, number>>;
  /** Starts waiting for a permit, per paced lane. */
  waiting: Partial<Record<Lane, number>>;
  /** Adaptive mode: the inputs and pressure of the last control tick, and each lane's last decision. */
  health?: HealthInputs & Pressure & { at: number };
  decisions?: Partial<Record<Lane, AimdDecision>>;
  /** Adaptive mode: rate changes per lane since the gate was built (metrics). */
  decisionCounts?: Partial<Record<Lane, { increase: number; decrease: number }>>;
  /** A fixed budget shared by the cluster: the processes sharing it, this one included, as last heard. */
  sharedBy?: number;
}

/**
 * Adaptive admission's constants, in one place. Starting points for bench:lanes to check, not tuned
 * claims: a rate low enough that a first flood cannot hurt a small server before the first stats
 * arrive, a floor so a lower lane is never starved, and a ceiling well above what one submitting
 * process issues.
 */
export const ADAPTIVE_DEFAULTS = {
  aimd: {
    initial: 20,
    floor: 1,
    ceiling: 2_000,
    // +max(1, 5%) per 500 ms: from 20/s to 200/s in about 25 s of a flood with no pressure. A faster
    // climb (+10%) overshot in bench:lanes: the high lane's wait shows a rise only a second later.
    increaseMin: 1,
    increaseFraction: 0.05,
    increaseIntervalMs: 500,
    decreaseFactor: 0.6,
    // The measured first-task wait is fresh (DescribeTaskQueue stats are cached ~5 s by the server):
    // cut at most once a second, so one cut shows before the next.
    decreaseHoldMs: 1_000,
  } satisfies AimdRateConfig,
  /** Lanes adaptive admission paces; `high` is the one it protects. */
  lanes: ['normal', 'low'] as const satisfies readonly Lane[],
  tickMs: 500,
  pollMs: 1_000,
  /** The gate stops polling and ticking this long after its last use. */
  idleMs: 10_000,
  /** Stats unread for this long (reads failing) stop counting. */
  staleMs: 10_000,
  /** Half a second of starts may go back to back (an interactive burst), no more: a larger burst from several replicas at once is what the control loop cannot see coming. */
  burstSeconds: 0.5,
  latencyWindowMs: 5_000,
  latencyMinSamples: 5,
} as const;

export interface CreateAdmissionOptions {
  mode: AdmissionMode;
  /** Reads queue stats for the adaptive health signal. */
  client?: Client;
  /** Names the control queue and the high-lane pools' queues. */
  catalog?: Catalog;
  /** Structured logs of the controller's decisions. */
  log?: Logger;
  /** Tests only: time and timers of the gate. */
  clock?: GateClock;
}

/** Builds the gate of `mode`. Adaptive mode without a client steers by start latencies alone. */
export function createAdmission(opts: CreateAdmissionOptions): AdmissionGate {
  switch (opts.mode.kind) {
    case 'off':
      return offGate(opts.mode);
    case 'fixed': {
      const scope = opts.mode.scope ?? FIXED_ADMISSION_DEFAULTS.scope;
      // Without a client (or the catalog naming the control queue) there is no registry to share through.
      if (scope === 'cluster' && opts.client && opts.catalog) {
        return sharedFixedGate(opts.mode, opts.client, opts.catalog, opts.log, opts.clock ?? systemClock);
      }
      return fixedGate(opts.mode, opts.mode.spec, opts.clock ?? systemClock);
    }
    case 'adaptive':
      return new AdaptiveGate(opts.mode, opts);
  }
}

function offGate(mode: AdmissionMode): AdmissionGate {
  return {
    mode,
    acquire: async () => {},
    observeStart: () => {},
    observeFirstTaskWait: () => {},
    rates: () => ({}),
    snapshot: () => ({ mode: mode.kind, objectiveMs: undefined, rates: {}, waiting: {} }),
    close: () => {},
  };
}

/** Fixed budgets per process (scope `process`, or no client to share through), with fair tenants. */
function fixedGate(mode: AdmissionMode, spec: AdmissionSpec, clock: GateClock): AdmissionGate {
  const gate = new FairGate(clock);
  for (const [lane, budget] of Object.entries(spec) as [Lane, { perSecond: number; burst: number }][]) gate.setPace(lane, budget);
  const rates = () => ratesOf(gate);
  return {
    mode,
    acquire: (lane, tenant, o) => gate.acquire(lane, tenant, o),
    observeStart: () => {},
    observeFirstTaskWait: () => {},
    rates,
    snapshot: () => ({ mode: mode.kind, objectiveMs: undefined, rates: rates(), waiting: waitingOf(gate) }),
    close: () => gate.close(),
  };
}

/** How long a process keeps its membership of a shared budget after its last admission. */
export const SHARED_FIXED_IDLE_MS = 10_000;

/**
 * A fixed budget shared by every process configured with it (scope `cluster`): each admits
 * budget / live members, the members counted by the admission registry workflow. A process joins
 * at its first paced admission and leaves when idle, so only processes admitting split the budget.
 */
function sharedFixedGate(
  mode: AdmissionMode & { kind: 'fixed' },
  client: Client,
  catalog: Catalog,
  log: Logger | undefined,
  clock: GateClock,
): AdmissionGate {
  const { spec } = mode;
  const gate = new FairGate(clock);
  const apply = (members: number) => {
    for (const [lane, pace] of Object.entries(shareOf(spec, members)) as [Lane, { perSecond: number; burst: number }][]) {
      gate.setPace(lane, pace);
    }
  };
  apply(1);
  const share = new ClusterShare(
    client,
    {
      workflowId: admissionRegistryId(catalog.app),
      taskQueue: catalog.controlQueue,
      budget: formatAdmission(spec),
      ttlMs: mode.memberTtlMs ?? FIXED_ADMISSION_DEFAULTS.memberTtlMs,
      idleMs: SHARED_FIXED_IDLE_MS,
    },
    apply,
    log,
  );
  const rates = () => ratesOf(gate);
  return {
    mode,
    acquire: async (lane, tenant, o) => {
      // Only a paced lane makes this process a member (the high lane never waits).
      if (gate.pace(lane)) {
        const joining = share.use();
        if (joining) await joining;
      }
      return gate.acquire(lane, tenant, o);
    },
    observeStart: () => {},
    observeFirstTaskWait: () => {},
    rates,
    snapshot: () => ({ mode: mode.kind, objectiveMs: undefined, rates: rates(), waiting: waitingOf(gate), sharedBy: share.members }),
    close: async () => {
      gate.close();
      await share.close();
    },
  };
}

function ratesOf(gate: FairGate): Partial<Record<Lane, number>> {
  const out: Partial<Record<Lane, number>> = {};
  for (const lane of ['normal', 'low'] as const) {
    const p = gate.pace(lane);
    if (p) out[lane] = p.perSecond;
  }
  return out;
}

function waitingOf(gate: FairGate): Partial<Record<Lane, number>> {
  const out: Partial<Record<Lane, number>> = {};
  for (const lane of ['normal', 'low'] as const) if (gate.pace(lane)) out[lane] = gate.waiting(lane);
  return out;
}

/** AIMD per lower lane on the shared health signal; ticks only while in use. */
class AdaptiveGate implements AdmissionGate {
  readonly mode: AdmissionMode & { kind: 'adaptive' };
  private readonly gate: FairGate;
  private readonly health: HealthMonitor;
  private readonly controllers = new Map<Lane, AimdRate>();
  private readonly decisions: Partial<Record<Lane, AimdDecision>> = {};
  private readonly decisionCounts: Partial<Record<Lane, { increase: number; decrease: number }>> = {};
  private lastHealth: (HealthInputs & Pressure & { at: number }) | undefined;
  private readonly clock: GateClock;
  private readonly log: Logger | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastUsed = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(mode: AdmissionMode & { kind: 'adaptive' }, opts: CreateAdmissionOptions) {
    this.mode = mode;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.gate = new FairGate(this.clock);
    const d = ADAPTIVE_DEFAULTS;
    for (const lane of d.lanes) {
      const c = new AimdRate(d.aimd);
      this.controllers.set(lane, c);
      this.gate.setPace(lane, paceOf(c.rate));
    }
    const catalog = opts.catalog;
    this.health = new HealthMonitor({
      ...(opts.client ? { client: opts.client } : {}),
      ...(catalog ? { controlQueue: catalog.controlQueue } : {}),
      highQueues: catalog?.pools.filter((p) => p.lane === 'high').map((p) => p.taskQueue) ?? [],
      pollMs: d.pollMs,
      idleMs: d.idleMs,
      staleMs: d.staleMs,
      latency: new LatencyWindow(d.latencyWindowMs, d.latencyMinSamples),
      highFirstWait: new LatencyWindow(d.latencyWindowMs, d.latencyMinSamples),
      ...(opts.log ? { log: opts.log } : {}),
      now: () => this.clock.now(),
    });
  }

  acquire(lane: Lane, tenant: string, opts?: { maxWaitMs?: number; signal?: AbortSignal }): Promise<void> {
    this.touch();
    return this.gate.acquire(lane, tenant, opts);
  }

  observeStart(_lane: Lane, ms: number): void {
    // Pooled over lanes: the RPC's latency is the server's, whichever lane asked.
    this.health.observeStart(ms);
    this.touch();
  }

  observeFirstTaskWait(lane: Lane, ms: number): void {
    if (lane === 'high') this.health.observeHighFirstWait(ms);
  }

  rates(): Partial<Record<Lane, number>> {
    return ratesOf(this.gate);
  }

  snapshot(): AdmissionSnapshot {
    return {
      mode: 'adaptive',
      objectiveMs: this.mode.objectiveMs,
      rates: this.rates(),
      waiting: waitingOf(this.gate),
      ...(this.lastHealth ? { health: this.lastHealth } : {}),
      decisions: { ...this.decisions },
      decisionCounts: Object.fromEntries(Object.entries(this.decisionCounts).map(([l, c]) => [l, { ...c }])),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.gate.close();
    await this.health.close();
  }

  private touch(): void {
    if (this.closed) return;
    this.lastUsed = this.clock.now();
    this.health.touch();
    if (!this.timer) this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick();
      if (!this.closed && this.clock.now() - this.lastUsed < ADAPTIVE_DEFAULTS.idleMs) this.schedule();
    }, ADAPTIVE_DEFAULTS.tickMs);
    this.timer.unref();
  }

  /** One control step for every paced lane. */
  private tick(): void {
    const now = this.clock.now();
    const inputs = this.health.inputs();
    const p = pressureOf(inputs, this.mode.objectiveMs);
    this.lastHealth = { ...inputs, ...p, at: now };
    for (const [lane, c] of this.controllers) {
      const d = c.tick(now, p.pressure, this.gate.takeLimited(lane));
      this.decisions[lane] = d;
      if (d.kind === 'hold') continue;
      (this.decisionCounts[lane] ??= { increase: 0, decrease: 0 })[d.kind]++;
      this.gate.setPace(lane, paceOf(d.rate));
      // Decreases are the decisions an operator asks about; increases come every tick of a flood.
      const fields = { lane, rate: round(d.rate), previous: round(d.previous), pressure: p.pressure, parts: p.parts, inputs };
      if (d.kind === 'decrease') this.log?.info(fields, `admission: ${lane} lane slowed to ${round(d.rate)}/s`);
      else this.log?.debug(fields, `admission: ${lane} lane raised to ${round(d.rate)}/s`);
    }
  }
}

function paceOf(rate: number): LanePace {
  return { perSecond: rate, burst: Math.max(1, Math.floor(rate * ADAPTIVE_DEFAULTS.burstSeconds)) };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
