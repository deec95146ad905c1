import { FireSizeLearner, type ArrivalCounter } from '../../scaler/signals/fire-size';

const POOL = { scheduleId: 'nightly', group: 'media', lane: 'low' as const };
const MIN = 60_000;
const WINDOW = 10 * MIN;

/** Arrivals as a list of epoch-ms times; counts those in [from, to) and remembers each call. */
function counter(arrivals: number[]): ArrivalCounter & { calls: number } {
  const c = (async (_pool, from, to) => {
    c.calls++;
    return arrivals.filter((t) => t >= from && t < to).length;
  }) as ArrivalCounter & { calls: number };
  c.calls = 0;
  return c;
}

const burst = (at: number, n: number) => Array.from({ length: n }, (_, i) => at + (i % 300) * 1_000);
const trickle = (from: number, to: number, every: number) =>
  Array.from({ length: Math.floor((to - from) / every) }, (_, i) => from + i * every);

test('no past fire whose window ended: nothing learned (the declared size stands)', async () => {
  const l = new FireSizeLearner(counter([]), { windowMs: WINDOW });
  await expect(l.learn(POOL, [], 100 * MIN)).resolves.toBeUndefined();
  // A fire 5 minutes ago is still arriving.
  await expect(l.learn(POOL, [95 * MIN], 100 * MIN)).resolves.toBeUndefined();
});

test.each([
  { name: 'one fire of 500 on a quiet pool', fires: [[1_000 * MIN, 500]], expected: 500 },
  {
    name: 'the median of three fires, not the odd one',
    fires: [
      [1_000 * MIN, 480],
      [2_000 * MIN, 520],
      [3_000 * MIN, 5_000],
    ],
    expected: 520,
  },
  {
    name: 'two fires: the mean of the middle two',
    fires: [
      [1_000 * MIN, 400],
      [2_000 * MIN, 600],
    ],
    expected: 500,
  },
])('$name → $expected', async ({ fires, expected }) => {
  const arrivals = fires.flatMap(([at, n]) => burst(at!, n!));
  const l = new FireSizeLearner(counter(arrivals), { windowMs: WINDOW });
  const got = await l.learn(
    POOL,
    fires.map(([at]) => at!),
    10_000 * MIN,
  );
  expect(got).toEqual({ tasks: expected, fires: fires.length });
});

test('steady traffic the pool gets anyway is not counted as the fire', async () => {
  const fire = 1_000 * MIN;
  // One task every 2 s all along (300 per window), plus 700 from the fire.
  const arrivals = [...trickle(fire - 3 * WINDOW, fire + 3 * WINDOW, 2_000), ...burst(fire, 700)];
  const l = new FireSizeLearner(counter(arrivals), { windowMs: WINDOW });
  await expect(l.learn(POOL, [fire], fire + 2 * WINDOW)).resolves.toEqual({ tasks: 700, fires: 1 });
});

test('only the newest `fires` fires count; each fire is counted once', async () => {
  const fires = [1, 2, 3, 4].map((d) => d * 1_440 * MIN);
  const sizes = [100, 200, 300, 400];
  const c = counter(fires.flatMap((at, i) => burst(at, sizes[i]!)));
  const l = new FireSizeLearner(c, { windowMs: WINDOW, fires: 2 });
  const now = 5 * 1_440 * MIN;
  await expect(l.learn(POOL, fires, now)).resolves.toEqual({ tasks: 350, fires: 2 });
  const calls = c.calls;
  await l.learn(POOL, fires, now + MIN);
  expect(c.calls).toBe(calls);
});

test('a quieter pool after the fire than before it learns 0, never a negative size', async () => {
  const fire = 1_000 * MIN;
  const l = new FireSizeLearner(counter(burst(fire - WINDOW, 50)), { windowMs: WINDOW });
  await expect(l.learn(POOL, [fire], fire + WINDOW)).resolves.toEqual({ tasks: 0, fires: 1 });
});
