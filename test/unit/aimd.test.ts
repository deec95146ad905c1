import { AimdController, type AimdConfig, type AttemptOutcome } from '../../workers/aimd';

const cfg: AimdConfig = {
  maxLimit: 16,
  minLimit: 1,
  windowMs: 10_000,
  minThrottled: 3,
  throttledRatio: 0.25,
  increaseIntervalMs: 1_000,
};

/** One step of a scripted timeline: a finished attempt or a clock tick, at a virtual time. */
type Step =
  { at: number; record: AttemptOutcome; startedAt?: number } | { at: number; tick: true } | { at: number; setup: 'limit'; limit: number };

function run(steps: Step[], config: AimdConfig = cfg): { limits: number[]; kinds: string[] } {
  const c = new AimdController(config, 0);
  const limits: number[] = [];
  const kinds: string[] = [];
  for (const s of steps) {
    const d = 'tick' in s ? c.tick(s.at) : 'record' in s ? c.record(s.record, s.startedAt ?? s.at - 100, s.at) : undefined;
    if (d) {
      kinds.push(d.kind);
      limits.push(d.limit);
    }
  }
  return { limits, kinds };
}

const rec = (at: number, record: AttemptOutcome, startedAt?: number): Step => ({
  at,
  record,
  ...(startedAt !== undefined ? { startedAt } : {}),
});
const tick = (at: number): Step => ({ at, tick: true });

describe('AimdController', () => {
  it.each<{ name: string; steps: Step[]; config?: AimdConfig; limit: number; kinds?: string[] }>([
    {
      name: 'starts at the configured concurrency and holds while all is well',
      steps: [rec(100, 'ok'), rec(200, 'ok'), tick(5_000)],
      limit: 16,
      kinds: ['hold', 'hold', 'hold'],
    },
    {
      name: 'halves once throttled attempts reach both the count and the ratio',
      steps: [rec(100, 'throttled'), rec(200, 'throttled'), rec(300, 'throttled')],
      limit: 8,
      kinds: ['hold', 'hold', 'decrease'],
    },
    {
      name: 'does not halve below the count threshold however high the ratio',
      steps: [rec(100, 'throttled'), rec(200, 'throttled'), tick(300)],
      limit: 16,
    },
    {
      name: 'does not halve below the ratio threshold however many throttles',
      steps: [
        ...Array.from({ length: 20 }, (_, i) => rec(100 + i, 'ok')),
        rec(200, 'throttled'),
        rec(201, 'throttled'),
        rec(202, 'throttled'),
      ],
      limit: 16,
    },
    {
      name: 'throttles older than the window are forgotten',
      steps: [rec(100, 'throttled'), rec(200, 'throttled'), rec(10_300, 'throttled')],
      limit: 16,
    },
    {
      name: 'attempts started before a decrease do not cause a second one (one decrease per window of data)',
      steps: [
        rec(100, 'throttled', 0),
        rec(200, 'throttled', 0),
        rec(300, 'throttled', 0), // decrease at 300
        rec(400, 'throttled', 50),
        rec(500, 'throttled', 60),
        rec(600, 'throttled', 70),
      ],
      limit: 8,
    },
    {
      name: 'attempts started after a decrease that are still throttled halve again',
      steps: [
        rec(100, 'throttled', 0),
        rec(200, 'throttled', 0),
        rec(300, 'throttled', 0), // 16 -> 8
        rec(700, 'throttled', 400),
        rec(800, 'throttled', 500),
        rec(900, 'throttled', 600), // 8 -> 4
      ],
      limit: 4,
    },
    {
      name: 'never drops below minLimit',
      steps: Array.from({ length: 40 }, (_, i) => rec(100 + i * 10, 'throttled', 100 + i * 10 - 1)),
      config: { ...cfg, minLimit: 3 },
      limit: 3,
    },
    {
      name: 'adds one slot per interval after a decrease, not before a full interval',
      steps: [rec(100, 'throttled'), rec(200, 'throttled'), rec(300, 'throttled'), tick(1_000), tick(1_300), tick(2_300), tick(3_400)],
      limit: 11,
      kinds: ['hold', 'hold', 'decrease', 'hold', 'increase', 'increase', 'increase'],
    },
    {
      name: 'never grows above maxLimit',
      steps: [tick(1_000), tick(2_000), tick(3_000)],
      limit: 16,
      kinds: ['hold', 'hold', 'hold'],
    },
    {
      name: 'cancelled attempts (drain, operator cancel) count for nothing',
      steps: [rec(100, 'cancelled'), rec(200, 'throttled'), rec(300, 'throttled'), rec(400, 'throttled')],
      config: { ...cfg, throttledRatio: 1 },
      limit: 8,
    },
    {
      name: 'ordinary failures dilute the throttled ratio like successes do',
      // 3 throttled of 13 finished is under the 25% ratio; of 12 it would not be.
      steps: [
        ...Array.from({ length: 10 }, (_, i) => rec(100 + i, 'failed')),
        rec(200, 'throttled'),
        rec(210, 'throttled'),
        rec(220, 'throttled'),
      ],
      limit: 16,
    },
    {
      name: 'a tick also decreases when the window is over the threshold',
      steps: [rec(100, 'throttled'), rec(200, 'throttled'), tick(250)],
      config: { ...cfg, minThrottled: 2 },
      limit: 8,
    },
  ])('$name', ({ steps, config, limit, kinds }) => {
    const r = run(steps, config);
    expect(r.limits.at(-1)).toBe(limit);
    if (kinds) expect(r.kinds).toEqual(kinds);
  });

  it('converges to a sawtooth around a capacity it cannot see (virtual time)', () => {
    // A downstream that accepts `capacity` tasks at once and throttles the rest, one round per 200ms.
    const capacity = 6;
    // The catalog's default thresholds (config/catalog-schema.ts CATALOG_DEFAULTS.pool.aimd).
    const c = new AimdController(
      { ...cfg, maxLimit: 32, windowMs: 5_000, minThrottled: 3, throttledRatio: 0.05, increaseIntervalMs: 1_000 },
      0,
    );
    const seen: number[] = [];
    for (let t = 0; t < 120_000; t += 200) {
      const n = c.limit;
      for (let i = 0; i < n; i++) c.record(i < capacity ? 'ok' : 'throttled', t, t + 199);
      c.tick(t + 199);
      if (t >= 60_000) seen.push(c.limit);
    }
    expect(Math.max(...seen)).toBeLessThanOrEqual(capacity + 2);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(Math.floor(capacity / 2));
  });

  it('rejects impossible bounds', () => {
    expect(() => new AimdController({ ...cfg, minLimit: 0 }, 0)).toThrow(RangeError);
    expect(() => new AimdController({ ...cfg, minLimit: 20 }, 0)).toThrow(RangeError);
  });
});
