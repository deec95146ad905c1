/**
 * Weighted fairness by plan (README "Flow control"): each tenant (the tenant of its API key) is on a
 * plan, each plan has a fairness weight, and a task carries its tenant's weight as Temporal's
 * `Priority.fairnessWeight`. Inside one lane's queue the server dispatches the tenants' fairness
 * keys in proportion to their weights (server flag matching.enableFairness).
 */

/** Temporal clamps weights to this range (temporal-facts §5). */
export const FAIRNESS_WEIGHT_RANGE = { min: 0.001, max: 1000 } as const;

export interface PlanSettings {
  /** Plan → fairness weight, e.g. `{ free: 1, pro: 3 }`. */
  readonly weights: Readonly<Record<string, number>>;
  /** Tenant → plan. A tenant on no plan (or an unknown one) gets weight 1, like an unweighted task. */
  readonly tenants: Readonly<Record<string, string>>;
}

/** Parses `a=b,c=d` (commas or newlines, `#` comments); throws naming the bad entry. */
export function parsePairs(spec: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of spec.split(/[,\n]/).entries()) {
    const entry = raw.trim();
    if (!entry || entry.startsWith('#')) continue;
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) throw new Error(`${what} entry ${i + 1} is not name=value`);
    out[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return out;
}

/** `free=1,pro=3` to plan weights; each a number in Temporal's range. */
export function parsePlanWeights(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [plan, v] of Object.entries(parsePairs(spec, 'plan weight'))) {
    const w = Number(v);
    if (!Number.isFinite(w) || w < FAIRNESS_WEIGHT_RANGE.min || w > FAIRNESS_WEIGHT_RANGE.max) {
      throw new Error(
        `weight of plan ${plan} must be a number from ${FAIRNESS_WEIGHT_RANGE.min} to ${FAIRNESS_WEIGHT_RANGE.max}, got ${v}`,
      );
    }
    out[plan] = w;
  }
  return out;
}

/** The weight lookup TaskClient uses: undefined for a tenant on no weighted plan (the task then sets none). */
export function planWeights(plans: PlanSettings): ((tenant: string) => number | undefined) | undefined {
  if (Object.keys(plans.tenants).length === 0) return undefined;
  return (tenant) => {
    const plan = plans.tenants[tenant];
    return plan !== undefined ? plans.weights[plan] : undefined;
  };
}
