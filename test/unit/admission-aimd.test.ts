import { AimdRate, type AimdRateConfig } from '../../admission/aimd';
import { ADAPTIVE_DEFAULTS } from '../../admission';

/**
 * The lane rate controller of adaptive admission, step by step on a virtual clock, with a config of
 * its own (the behaviour, not the defaults' values, is under test here).
 */
const cfg: AimdRateConfig = {
  initial: 20,
  floor: 1,
  ceiling: 2000,
  increaseMin: 2,
  increaseFraction: 0.1,
  increaseIntervalMs: 500,
  decreaseFactor: 0.5,
  decreaseHoldMs: 2000,
};

test('the documented defaults: 20/s start, 1/s floor, 2000/s ceiling, +max(1, 5%) per 500 ms, ×0.6 at most every second', () => {
  expect(ADAPTIVE_DEFAULTS.aimd).toMatchObject({
    initial: 20,
    floor: 1,
    ceiling: 2000,
    increaseMin: 1,
    increaseFraction: 0.05,
    increaseIntervalMs: 500,
    decreaseFactor: 0.6,
    decreaseHoldMs: 1000,
  });
});

test('additive increase while pressure is below 1 and the lane uses its rate: +max(2, 10%)', () => {
  const c = new AimdRate({ ...cfg, initial: 10 });
  const rates = [0, 500, 1000, 1500].map((t) => c.tick(t, 0.5, true).rate);
  expect(rates).toEqual([12, 14, 16, 18]);
  const big = new AimdRate({ ...cfg, initial: 100 });
  expect(big.tick(0, 0.2, true)).toMatchObject({ kind: 'increase', rate: 110, previous: 100 });
});

test('at most one increase per interval, and none for a lane not using its rate', () => {
  const c = new AimdRate(cfg);
  expect(c.tick(0, 0.1, true).kind).toBe('increase');
  expect(c.tick(200, 0.1, true)).toMatchObject({ kind: 'hold', reason: 'interval' });
  expect(c.tick(600, 0.1, false)).toMatchObject({ kind: 'hold', reason: 'not-limited', rate: 22 });
});

test('multiplicative decrease on pressure ≥ 1, then a hold period before the next', () => {
  const c = new AimdRate({ ...cfg, initial: 400 });
  expect(c.tick(0, 1, true)).toMatchObject({ kind: 'decrease', rate: 200, previous: 400, pressure: 1 });
  // The stats lag: a second halving inside the hold period would overshoot.
  expect(c.tick(500, 3, true)).toMatchObject({ kind: 'hold', reason: 'hold-period', rate: 200 });
  expect(c.tick(1999, 3, true).kind).toBe('hold');
  expect(c.tick(2000, 3, true)).toMatchObject({ kind: 'decrease', rate: 100 });
});

test('the floor: a lower lane is slowed, never stopped', () => {
  const c = new AimdRate({ ...cfg, initial: 3 });
  expect(c.tick(0, 5, true).rate).toBe(1.5);
  expect(c.tick(2000, 5, true).rate).toBe(1);
  expect(c.tick(4000, 5, true)).toMatchObject({ kind: 'hold', reason: 'at-floor', rate: 1 });
});

test('the ceiling', () => {
  const c = new AimdRate({ ...cfg, initial: 1950 });
  expect(c.tick(0, 0, true).rate).toBe(2000);
  expect(c.tick(500, 0, true)).toMatchObject({ kind: 'hold', reason: 'at-ceiling', rate: 2000 });
  expect(new AimdRate({ ...cfg, initial: 1e9 }).rate).toBe(2000);
});

test('no signal: hold', () => {
  const c = new AimdRate(cfg);
  expect(c.tick(0, undefined, true)).toMatchObject({ kind: 'hold', reason: 'no-signal', rate: 20 });
});

/** Mean total rate of `n` controllers sharing one signal (pressure = total / capacity) over the last half of 10 min. */
function sharedTotal(n: number, capacity: number, initial: number[]): number {
  const cs = Array.from({ length: n }, (_, i) => new AimdRate({ ...cfg, initial: initial[i] ?? cfg.initial }));
  let sum = 0;
  let samples = 0;
  for (let t = 0; t < 600_000; t += 500) {
    const total = cs.reduce((a, c) => a + c.rate, 0);
    const pressure = total / capacity;
    for (const c of cs) c.tick(t, pressure, true);
    if (t >= 300_000) {
      sum += total;
      samples++;
    }
  }
  return sum / samples;
}

test('replicas on one signal share a total instead of multiplying it (no coordinator)', () => {
  const one = sharedTotal(1, 200, [20]);
  const two = sharedTotal(2, 200, [180, 5]);
  const four = sharedTotal(4, 200, [20, 20, 20, 20]);
  // Each process halves on the same pressure, so the total oscillates under the capacity either way.
  expect(one).toBeGreaterThan(100);
  expect(one).toBeLessThan(200);
  expect(two / one).toBeLessThan(1.3);
  expect(four / one).toBeLessThan(1.3);
});

test('a bad config is refused', () => {
  expect(() => new AimdRate({ ...cfg, floor: 0 })).toThrow(RangeError);
  expect(() => new AimdRate({ ...cfg, floor: 10, ceiling: 5 })).toThrow(RangeError);
});
