/**
 * The `demo.yield` batch's arithmetic, pure and deterministic: synthetic accounts generated from a
 * seed (the same seed always gives the same accounts), and each account's daily yield in whole
 * cents. Tests compute the expected totals directly from here.
 */

export interface Account {
  id: number;
  balanceCents: number;
  /** Annual rate in basis points (1 bp = 0.01 %). */
  rateBp: number;
}

/** mulberry32: a small, fast, well-mixed 32-bit generator. */
function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Account `id` of the book generated from `seed`. */
export function syntheticAccount(seed: number, id: number): Account {
  const rnd = mulberry32((seed * 0x9e3779b1) ^ (id * 0x85ebca6b));
  return { id, balanceCents: Math.floor(rnd() * 10_000_000), rateBp: 50 + Math.floor(rnd() * 450) };
}

/** One day's yield of an account, in whole cents (rounded down). */
export function dailyYieldCents(a: Account): number {
  return Math.floor((a.balanceCents * a.rateBp) / 10_000 / 365);
}

export interface YieldTotals {
  accounts: number;
  shards: number;
  balanceCents: number;
  yieldCents: number;
}

/** Totals of accounts `[from, to)` of the book from `seed`. */
export function yieldOf(seed: number, from: number, to: number): YieldTotals {
  let balanceCents = 0;
  let yieldCents = 0;
  for (let id = from; id < to; id++) {
    const a = syntheticAccount(seed, id);
    balanceCents += a.balanceCents;
    yieldCents += dailyYieldCents(a);
  }
  return { accounts: Math.max(0, to - from), shards: 1, balanceCents, yieldCents };
}

/** Adds two totals (the reduce step). */
export function addTotals(a: YieldTotals, b: YieldTotals): YieldTotals {
  return {
    accounts: a.accounts + b.accounts,
    shards: a.shards + b.shards,
    balanceCents: a.balanceCents + b.balanceCents,
    yieldCents: a.yieldCents + b.yieldCents,
  };
}

export const ZERO_TOTALS: YieldTotals = { accounts: 0, shards: 0, balanceCents: 0, yieldCents: 0 };
