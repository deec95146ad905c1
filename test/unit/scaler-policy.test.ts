import { compileScalerOptions, type ScalerOptions } from '../../scaler/options';
import { decideAll, decidePool, desiredConcurrency, replicasFor, shareBudget, type PoolPolicyState } from '../../scaler/policy';
import { emptyObservation, scaledPool, type PoolObservation } from '../../scaler/types';
import { poolSettingsSchema, type PoolSpec } from '../../config/catalog-schema';
import { poolTaskQueue } from '../../config/names';

const spec = ({ group = 'g', lane = 'normal', ...over }: Partial<PoolSpec> = {}): PoolSpec => ({
  group,
  lane,
  taskQueue: poolTaskQueue(group, lane),
  ...poolSettingsSchema.parse({ concurrency: 10, minReplicas: 1, maxReplicas: 8, startupSeconds: 20, ...over }),
});
const T0 = Date.parse('2026-11-26T00:00:00Z');
const opts = (o: ScalerOptions = {}, pools: PoolSpec[] = [spec()]) =>
  compileScalerOptions(
    { interval: '10s', targetDrainTime: '60s', stabilizationWindow: '60s', idleAfter: '2m', meanDuration: '2s', ...o },
    pools,
  );
const obs = (o: Partial<PoolObservation> = {}): PoolObservation => ({ ...emptyObservation(), ...o });
const seasoned = (o: Partial<PoolPolicyState> = {}): PoolPolicyState => ({
  since: T0 - 3_600_000,
  history: [],
  lastActiveAt: T0 - 1_000,
  ...o,
});

describe('desiredConcurrency', () => {
  test.each([
    // [name, addRate, backlog, forecast, inFlight, meanMs, drainMs, expected]
    ['idle', 0, 0, 0, 0, 1000, 60_000, 0],
    ["Little's law: 5/s x 2s", 5, 0, 0, 0, 2000, 60_000, 10],
    ['backlog drains in target time: 600 x 2s / 60s', 0, 600, 0, 0, 2000, 60_000, 20],
    ['never more slots than queued tasks', 0, 3, 0, 0, 10_000, 1_000, 3],
    ['forecast counts as backlog', 0, 0, 600, 0, 2000, 60_000, 20],
    ['running tasks are a floor', 0, 0, 0, 7, 1000, 60_000, 7],
    ['sum of arrival and drain', 1, 300, 0, 0, 1000, 30_000, 11],
  ])('%s', (_n, addRate, backlog, forecastTasks, inFlight, meanDurationMs, targetDrainMs, expected) => {
    expect(desiredConcurrency({ addRate, backlog, forecastTasks, inFlight, meanDurationMs, targetDrainMs })).toBeCloseTo(expected, 6);
  });

  test.each([
    // [name, fires, backlog, expected] at the pool's mean 2 s and a 60 s drain target
    ['a batch fire is capped by its maxParallel', [{ tasks: 600, maxParallel: 8 }], 0, 8],
    ['a small batch needs fewer slots than its cap', [{ tasks: 60, maxParallel: 8 }], 0, 2],
    ['never more slots than shards', [{ tasks: 3, maxParallel: 8, meanDurationMs: 600_000 }], 0, 3],
    ["a fire's own duration: 60 x 30 s / 60 s", [{ tasks: 60, meanDurationMs: 30_000 }], 0, 30],
    ['two fires and a backlog add up', [{ tasks: 600, maxParallel: 8 }, { tasks: 300 }], 300, 8 + 10 + 10],
  ])('%s', (_n, fires, backlog, expected) => {
    expect(desiredConcurrency({ addRate: 0, backlog, fires, inFlight: 0, meanDurationMs: 2_000, targetDrainMs: 60_000 })).toBeCloseTo(
      expected,
      6,
    );
  });

  test('planning fires apart equals pooling them when durations are equal and nothing caps', () => {
    for (const [backlog, a, b, d, t] of [
      [100, 200, 300, 2_000, 60_000],
      [5, 3, 1, 90_000, 60_000],
      [0, 1_000, 7, 500, 10_000],
    ] as const) {
      const apart = desiredConcurrency({
        addRate: 0.5,
        backlog,
        fires: [{ tasks: a }, { tasks: b }],
        inFlight: 0,
        meanDurationMs: d,
        targetDrainMs: t,
      });
      const pooled = desiredConcurrency({ addRate: 0.5, backlog, forecastTasks: a + b, inFlight: 0, meanDurationMs: d, targetDrainMs: t });
      expect(apart).toBeCloseTo(pooled, 9);
    }
  });

  test('replicasFor rounds up without float noise', () => {
    expect(replicasFor(40, 20)).toBe(2);
    expect(replicasFor(40.5, 20)).toBe(3);
    expect(replicasFor(0, 20)).toBe(0);
    expect(replicasFor(0.3 * 3, 0.9)).toBe(1);
  });
});

describe('decidePool', () => {
  const o = opts();
  const pool = o.pools[0]!;
  type Row = [
    string,
    { obs: Partial<PoolObservation>; current: number; state?: PoolPolicyState; now?: number; o?: ScalerOptions },
    { target: number; reason: string },
  ];
  const rows: Row[] = [
    ['backlog from zero scales up at once', { obs: { backlog: 600 }, current: 0 }, { target: 2, reason: 'scale-up' }],
    ['clamped to max', { obs: { backlog: 100_000 }, current: 1, state: seasoned() }, { target: 8, reason: 'scale-up' }],
    ['active but light keeps minReplicas', { obs: { addRate: 0.1 }, current: 1, state: seasoned() }, { target: 1, reason: 'steady' }],
    [
      'first window after start never scales down',
      { obs: {}, current: 5, state: { since: T0 - 30_000, history: [], lastActiveAt: T0 } },
      { target: 5, reason: 'stabilizing' },
    ],
    [
      'recent high recommendation holds replicas',
      { obs: { addRate: 0.1 }, current: 6, state: seasoned({ history: [{ at: T0 - 30_000, replicas: 6 }] }) },
      { target: 6, reason: 'stabilizing' },
    ],
    [
      'old recommendations expire: down by a bounded step (half)',
      { obs: { addRate: 0.1 }, current: 6, state: seasoned({ history: [{ at: T0 - 90_000, replicas: 6 }] }) },
      { target: 3, reason: 'scale-down' },
    ],
    [
      'step is at least one replica',
      { obs: { addRate: 0.1 }, current: 3, state: seasoned(), o: { scaleDownMaxFraction: 0.1 } },
      { target: 2, reason: 'scale-down' },
    ],
    [
      'idle past idleAfter goes to zero',
      { obs: {}, current: 1, state: seasoned({ lastActiveAt: T0 - 180_000 }) },
      { target: 0, reason: 'scale-to-zero' },
    ],
    [
      'idle but not long enough keeps min',
      { obs: {}, current: 1, state: seasoned({ lastActiveAt: T0 - 60_000 }) },
      { target: 1, reason: 'steady' },
    ],
    [
      'scaleToZero off keeps min when idle',
      { obs: {}, current: 1, state: seasoned({ lastActiveAt: T0 - 180_000 }), o: { scaleToZero: false } },
      { target: 1, reason: 'steady' },
    ],
    [
      'fire within lead prewarms from zero',
      {
        obs: { fires: [{ at: T0 + 25_000, scheduleId: 's', taskType: 't', expectedTasks: 1200, source: 'catalog' }] },
        current: 0,
        state: seasoned({ lastActiveAt: undefined }),
      },
      { target: 4, reason: 'prewarm' },
    ],
    [
      'a learned batch fire prewarms only up to its maxParallel (8 slots = 1 replica of 10)',
      {
        obs: {
          fires: [
            {
              at: T0 + 25_000,
              scheduleId: 's',
              taskType: 'b',
              expectedTasks: 1200,
              source: 'server',
              sizeSource: 'learned',
              maxParallel: 8,
            },
          ],
        },
        current: 0,
        state: seasoned({ lastActiveAt: undefined }),
      },
      { target: 1, reason: 'prewarm' },
    ],
    [
      "a fire's own mean duration: 100 x 12 s / 60 s = 20 slots = 2 replicas",
      {
        obs: { fires: [{ at: T0 + 25_000, scheduleId: 's', taskType: 't', expectedTasks: 100, source: 'server', meanDurationMs: 12_000 }] },
        current: 0,
        state: seasoned({ lastActiveAt: undefined }),
      },
      { target: 2, reason: 'prewarm' },
    ],
    [
      'fire beyond lead (startup 20s + interval 10s) does not',
      {
        obs: { fires: [{ at: T0 + 31_000, scheduleId: 's', taskType: 't', expectedTasks: 1200, source: 'catalog' }] },
        current: 0,
        state: seasoned({ lastActiveAt: undefined }),
      },
      { target: 0, reason: 'steady' },
    ],
    [
      'forecast disabled (reactive policy) ignores fires',
      {
        obs: { fires: [{ at: T0 + 5_000, scheduleId: 's', taskType: 't', expectedTasks: 1200, source: 'catalog' }] },
        current: 0,
        state: seasoned({ lastActiveAt: undefined }),
        o: { forecast: false },
      },
      { target: 0, reason: 'steady' },
    ],
    [
      'a forecast fire blocks scale-to-zero',
      {
        obs: { fires: [{ at: T0 + 20_000, scheduleId: 's', taskType: 't', expectedTasks: 1, source: 'server' }] },
        current: 1,
        state: seasoned({ lastActiveAt: T0 - 600_000 }),
      },
      { target: 1, reason: 'steady' },
    ],
  ];
  test.each(rows)('%s', (_name, row, want) => {
    const oo = row.o ? opts(row.o) : o;
    const d = decidePool(
      { pool: oo.pools[0]!, obs: obs(row.obs), meanDurationMs: 2_000, current: row.current, now: row.now ?? T0, state: row.state },
      oo,
    );
    expect({ target: d.target, reason: d.reason }).toEqual(want);
  });

  test('the returned state remembers recommendations only within the window', () => {
    const d = decidePool(
      {
        pool,
        obs: obs({ backlog: 600 }),
        meanDurationMs: 2_000,
        current: 0,
        now: T0,
        state: seasoned({
          history: [
            { at: T0 - 61_000, replicas: 9 },
            { at: T0 - 10_000, replicas: 3 },
          ],
        }),
      },
      o,
    );
    expect(d.state.history).toEqual([
      { at: T0 - 10_000, replicas: 3 },
      { at: T0, replicas: 2 },
    ]);
    expect(d.state.lastActiveAt).toBe(T0);
  });

  test('a burst then quiet walks down by steps after the window, then to zero after idle', () => {
    let state: PoolPolicyState | undefined = seasoned();
    let current = 0;
    const targets: number[] = [];
    for (let t = 0; t <= 400_000; t += 10_000) {
      const busy = t < 30_000;
      const d = decidePool(
        { pool, obs: obs(busy ? { backlog: 5_000, inFlight: 80 } : {}), meanDurationMs: 2_000, current, now: T0 + t, state },
        o,
      );
      state = d.state;
      current = d.target;
      targets.push(current);
    }
    expect(targets[0]).toBe(8);
    // Held for the 60 s window after the last busy decision (t=20 s), then halving steps.
    expect(targets.slice(0, 9)).toEqual([8, 8, 8, 8, 8, 8, 8, 8, 4]);
    expect(targets.indexOf(1)).toBeGreaterThan(8);
    // Zero only once idleAfter (2 m) has passed and the min-replica recommendations left the window.
    const firstZero = targets.indexOf(0);
    expect(firstZero * 10_000).toBeGreaterThanOrEqual(20_000 + 120_000);
    expect(targets.at(-1)).toBe(0);
  });
});

describe('shareBudget', () => {
  const W = { high: 4, normal: 2, low: 1 };
  test.each([
    [
      'everything fits',
      [
        ['h', 'high', 3, true],
        ['l', 'low', 2, true],
      ],
      10,
      { h: 3, l: 2 },
    ],
    [
      'weights share a short budget 4:2:1',
      [
        ['h', 'high', 20, true],
        ['n', 'normal', 20, true],
        ['l', 'low', 20, true],
      ],
      14,
      { h: 8, n: 4, l: 2 },
    ],
    [
      'low lane with backlog keeps its floor',
      [
        ['h', 'high', 10, true],
        ['l', 'low', 10, true],
      ],
      4,
      { h: 3, l: 1 },
    ],
    [
      'same budget, no backlog: weight alone decides',
      [
        ['h', 'high', 10, true],
        ['l', 'low', 10, false],
      ],
      4,
      { h: 4, l: 0 },
    ],
    [
      'budget smaller than floors goes high first',
      [
        ['h', 'high', 5, true],
        ['n', 'normal', 5, true],
        ['l', 'low', 5, true],
      ],
      2,
      { h: 1, n: 1, l: 0 },
    ],
    [
      'leftover of a satisfied pool goes to others',
      [
        ['h', 'high', 1, true],
        ['l', 'low', 10, true],
      ],
      6,
      { h: 1, l: 5 },
    ],
  ] as const)('%s', (_n, claims, budget, want) => {
    const got = shareBudget(
      claims.map(([pool, lane, w, b]) => ({ pool: `${pool}.${lane}` as const, lane, want: w, hasBacklog: b })),
      budget,
      W,
      1,
    );
    expect(Object.fromEntries([...got].map(([k, v]) => [k.split('.')[0], v]))).toEqual(want);
    expect([...got.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(budget);
  });

  test('decideAll applies the budget and marks the cut', () => {
    const pools = [spec({ group: 'a', lane: 'high' }), spec({ group: 'a', lane: 'low' })];
    const o = opts({ maxTotalReplicas: 5 }, pools);
    const ds = decideAll(
      o.pools.map((pool) => ({ pool, obs: obs({ backlog: 100_000 }), meanDurationMs: 2_000, current: 0, now: T0, state: seasoned() })),
      o,
    );
    expect(ds.map((d) => [d.pool, d.target, d.reason])).toEqual([
      ['a.high', 4, 'budget'],
      ['a.low', 1, 'budget'],
    ]);
  });
});

describe('compileScalerOptions', () => {
  test('defaults and overrides', () => {
    const o = compileScalerOptions({ poolOverrides: { 'g.normal': { maxReplicas: 2, meanDuration: '3s' } } }, [spec()]);
    expect(o.intervalMs).toBe(15_000);
    expect(o.pools[0]!.maxReplicas).toBe(2);
    expect(o.defaultMeanDurationMs['g.normal']).toBe(3_000);
  });
  test('bad values name the field', () => {
    expect(() => compileScalerOptions({ interval: 'soon' as never }, [spec()])).toThrow(/interval: invalid duration/);
    expect(() => compileScalerOptions({ pools: ['nope.normal'] }, [spec()])).toThrow(/no pool nope.normal/);
    expect(() => compileScalerOptions({ poolOverrides: { 'g.normal': { minReplicas: 5, maxReplicas: 2 } } }, [spec()])).toThrow(
      /maxReplicas/,
    );
    try {
      compileScalerOptions({ scaleDownMaxFraction: 2 }, [spec()]);
    } catch (e) {
      expect((e as { type: string }).type).toBe('ScalerOptionsError');
    }
  });
});

test('scaledPool names the queue', () => {
  expect(scaledPool(spec()).taskQueue).toBe('tideway.g.normal');
});
