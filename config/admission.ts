import { TidewayError } from './errors';
import { LANES, type Lane } from './names';

/**
 * Lane admission: how fast a lane's tasks may be *started* in Temporal, per submitting process.
 * Every accepted task is a workflow start plus a dozen persistence writes, all on the same server as
 * every other lane; a flood admitted as fast as it is offered saturates a small server and slows the
 * high lane with it. A budget on the low lane keeps headroom for the others. A submit over the
 * budget waits for its turn up to `maxWait`, else fails with `AdmissionThrottledError` (HTTP 429
 * with Retry-After) and starts nothing.
 */
export interface LaneBudget {
  /** Sustained starts per second. */
  perSecond: number;
  /** Starts allowed back to back before pacing begins. @default max(1, perSecond) */
  burst: number;
}

export type AdmissionSpec = Partial<Record<Lane, LaneBudget>>;

/**
 * Budget of the embedded dev server (one history shard, one SQLite connection, 2 cores here): the
 * highest low-lane rate under which bench:lanes keeps the high lane's p99 within 1.5x of its idle
 * value with a margin (p99 ratio over 450 samples per condition: 2/s 0.96-1.38 in four runs; 3/s 1.21;
 * 4/s 1.33, 1.39, 1.56; the p50 did not move in any). Not applied when TEMPORAL_ADDRESS names
 * another server: a cluster's capacity is its operator's to set.
 */
export const DEV_SERVER_ADMISSION = 'low=2/s';

/** The budgets a process runs with: TIDEWAY_ADMISSION if set, else the embedded server's default. */
export function admissionFor(setting: string | undefined, embeddedServer: boolean): AdmissionSpec {
  return parseAdmission(setting ?? (embeddedServer ? DEV_SERVER_ADMISSION : undefined));
}

const ENTRY = /^(high|normal|low)=(\d+(?:\.\d+)?)\/s(?:,burst=(\d+))?$/;

/** Parses `low=8/s;normal=50/s,burst=100` (lanes separated by `;`). Empty or `off` = no budget. */
export function parseAdmission(text: string | undefined): AdmissionSpec {
  const spec: AdmissionSpec = {};
  if (!text || text.trim() === '' || text.trim() === 'off') return spec;
  for (const part of text.split(';').filter((p) => p.trim() !== '')) {
    const m = ENTRY.exec(part.trim());
    if (!m) {
      throw new AdmissionConfigError(
        `TIDEWAY_ADMISSION: ${JSON.stringify(part)}: use <lane>=<n>/s or <lane>=<n>/s,burst=<m>, e.g. low=8/s`,
      );
    }
    const lane = m[1] as Lane;
    const perSecond = Number(m[2]);
    if (!(perSecond > 0)) throw new AdmissionConfigError(`TIDEWAY_ADMISSION: ${lane} needs a rate above 0`);
    spec[lane] = { perSecond, burst: m[3] ? Math.max(1, Number(m[3])) : Math.max(1, Math.floor(perSecond)) };
  }
  return spec;
}

export function formatAdmission(spec: AdmissionSpec): string {
  const parts = LANES.flatMap((l) => {
    const b = spec[l];
    return b ? [`${l}=${b.perSecond}/s,burst=${b.burst}`] : [];
  });
  return parts.length ? parts.join(';') : 'off';
}

export class AdmissionConfigError extends TidewayError {
  readonly type = 'AdmissionConfigError';
}

/** A submit that would wait longer than allowed for its lane's budget; nothing was started. */
export class AdmissionThrottledError extends TidewayError {
  readonly type = 'AdmissionThrottled';
  constructor(
    readonly lane: Lane,
    readonly retryAfterMs: number,
  ) {
    super(
      `the ${lane} lane's admission budget is used up; retry in ${Math.ceil(retryAfterMs / 1000)} s ` +
        '(TIDEWAY_ADMISSION sets the budget)',
    );
  }
}

/**
 * Per-lane pacing with the generic cell rate algorithm: each lane keeps the time its next start is
 * due (`tat`); a start may go `burst - 1` intervals early. Pure and clock-injected, so it is unit
 * tested without timers.
 */
export class LaneAdmission {
  private readonly tat = new Map<Lane, number>();

  constructor(
    readonly spec: AdmissionSpec,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Reserves a start for `lane` and returns how long to wait before it (0 = now). Throws
   * `AdmissionThrottledError` without reserving when the wait would exceed `maxWaitMs`.
   */
  reserve(lane: Lane, maxWaitMs: number): number {
    const budget = this.spec[lane];
    if (!budget) return 0;
    const interval = 1000 / budget.perSecond;
    const now = this.now();
    const tat = Math.max(this.tat.get(lane) ?? now, now);
    const wait = Math.max(0, tat - now - (budget.burst - 1) * interval);
    if (wait > maxWaitMs) throw new AdmissionThrottledError(lane, wait - maxWaitMs || interval);
    this.tat.set(lane, tat + interval);
    return wait;
  }
}
