import { TidewayError } from './errors';
import { LANES, type Lane } from './names';

/**
 * Lane admission: how fast a lane's tasks may be *started* in Temporal (admission/ applies it).
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
 * Who a fixed budget is for. `cluster` (the default): every process with the same budget shares it
 * (TaskClients, API replicas, control workers' bulk intake), through the admission registry workflow
 * (workflows/admission-registry.ts): each admits budget / live members. `process`: each process
 * admits the whole budget by itself, so N replicas admit N times it.
 */
export type AdmissionScope = 'cluster' | 'process';

/**
 * How a process admits starts of the lower lanes (normal, low); the high lane is never paced, it is
 * what admission protects. `adaptive` (the default) finds the rate from the server's health (see
 * admission/); `fixed` keeps budgets, shared by the cluster unless `scope` says `process`; `off`
 * starts everything at once.
 */
export type AdmissionMode =
  | { kind: 'off' }
  | {
      kind: 'fixed';
      spec: AdmissionSpec;
      /** TIDEWAY_ADMISSION_SCOPE. @default 'cluster' */
      scope?: AdmissionScope;
      /** TIDEWAY_ADMISSION_TTL: a member that stops checking in drops out of the share after this long. @default 6s */
      memberTtlMs?: number;
    }
  | { kind: 'adaptive'; objectiveMs: number };

/** Defaults of a fixed budget's sharing (AdmissionMode `fixed`). */
export const FIXED_ADMISSION_DEFAULTS = {
  scope: 'cluster' as AdmissionScope,
  /** A process checks in every third of it; a dead one's share goes to the others within it. */
  memberTtlMs: 6_000,
  /** Least TTL: check-ins every third of it must fit in it with room for a slow round trip. */
  minMemberTtlMs: 3_000,
} as const;

/** Default objective of the high lane's queue wait (p99, submit to handler start): TIDEWAY_HIGH_WAIT_OBJECTIVE. */
export const DEFAULT_HIGH_WAIT_OBJECTIVE_MS = 250;

/**
 * Parses TIDEWAY_ADMISSION: unset or `adaptive` = adaptive with `objectiveMs`; `off` (or set but
 * empty) = no pacing; anything else a fixed budget (`low=8/s;normal=50/s,burst=100`).
 */
export function parseAdmissionMode(text: string | undefined, objectiveMs = DEFAULT_HIGH_WAIT_OBJECTIVE_MS): AdmissionMode {
  const t = text?.trim();
  if (t === undefined || t === 'adaptive') return { kind: 'adaptive', objectiveMs };
  if (t === '' || t === 'off') return { kind: 'off' };
  return { kind: 'fixed', spec: parseAdmission(t) };
}

/** The mode as TIDEWAY_ADMISSION writes it, with the objective of adaptive mode (for `tideway dev` and `config check`). */
export function formatAdmissionMode(mode: AdmissionMode): string {
  if (mode.kind === 'adaptive') return `adaptive (high-lane wait objective ${mode.objectiveMs} ms)`;
  if (mode.kind === 'off') return 'off';
  const scope = mode.scope ?? FIXED_ADMISSION_DEFAULTS.scope;
  return scope === 'process' ? `${formatAdmission(mode.spec)} (per process)` : formatAdmission(mode.spec);
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
    // Pacing the lane admission protects would only add wait where the objective is measured.
    if (lane === 'high')
      throw new AdmissionConfigError('TIDEWAY_ADMISSION: the high lane is never paced (budgets apply to normal and low)');
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
        '(TIDEWAY_ADMISSION sets how lanes are admitted)',
    );
  }
}

/** Thrown by an admission gate's `acquire` after `close()`, to a call made or still waiting then. */
export class AdmissionClosedError extends TidewayError {
  readonly type = 'AdmissionClosed';
}
