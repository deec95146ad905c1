import { simCatalog, DEFAULT_SCENARIO } from '../../bench/scaler-sim';
import { MeanDurationEstimator } from '../../scaler/mean-duration';
import { compileScalerOptions } from '../../scaler/options';
import { scheduledRunId } from '../../scaler/signals/batch-size';
import { catalogSource, expandForecast, forecastSignal } from '../../scaler/signals/forecast';

const T0 = Date.parse('2026-11-26T00:00:00Z');

test('catalog schedules expand with cron-parser over the horizon, grouped by pool, times expected tasks', async () => {
  const catalog = simCatalog({ ...DEFAULT_SCENARIO, cron: '0 2,14 * * *', cronTasks: 500 });
  const fires = await expandForecast(
    catalog.schedules.map((s) => catalogSource(s)),
    T0,
    T0 + 86_400_000,
  );
  expect(fires.get('sim.normal')?.map((f) => [new Date(f.at).toISOString(), f.expectedTasks, f.source])).toEqual([
    ['2026-11-26T02:00:00.000Z', 500, 'catalog'],
    ['2026-11-26T14:00:00.000Z', 500, 'catalog'],
  ]);
  const opts = compileScalerOptions({ forecastHorizon: '3h' }, catalog.pools);
  const reading = await forecastSignal({ catalog, horizonMs: opts.forecastHorizonMs }).read(opts.pools, T0);
  expect(reading.get('sim.normal')?.fires).toHaveLength(1);
  expect(reading.get('sim.high')?.fires).toEqual([]);
});

test("mean duration: default until a steady-state Little's-law sample, then smoothed", () => {
  const e = new MeanDurationEstimator({ 'g.normal': 1_000 });
  expect(e.get('g.normal')).toEqual({ ms: 1_000, source: 'default' });
  // A burst (backlog, arrivals far above dispatches) teaches nothing.
  expect(e.observe('g.normal', { inFlight: 80, dispatchRate: 2, addRate: 50, backlog: 900 })).toBeUndefined();
  expect(e.observe('g.normal', { inFlight: 12, dispatchRate: 4, addRate: 4.2, backlog: 0 })).toBe(3_000);
  expect(e.get('g.normal')).toEqual({ ms: 3_000, source: 'learned' });
  e.observe('g.normal', { inFlight: 20, dispatchRate: 4, addRate: 4, backlog: 0 });
  expect(e.get('g.normal').ms).toBeCloseTo(3_000 + 0.3 * 2_000, 6);
  const off = new MeanDurationEstimator({}, false, 1_500);
  expect(off.observe('x.low', { inFlight: 12, dispatchRate: 4, addRate: 4, backlog: 0 })).toBeUndefined();
  expect(off.get('x.low')).toEqual({ ms: 1_500, source: 'default' });
});

test("a batch schedule's runs are found by Temporal's `<workflowId>-<fire time>` shape, and only its own", () => {
  const shape = scheduledRunId('tideway.demo.nightly-yield');
  expect(shape.test('tideway.demo.nightly-yield-2026-12-01T01:00:00Z')).toBe(true);
  expect(shape.test('tideway.demo.nightly-yield-workflow-2026-12-01T01:00:00Z')).toBe(true); // the SDK's default action ID
  expect(shape.test('tideway.demo.nightly-yield-eu-2026-12-01T01:00:00Z')).toBe(false); // schedule `…-eu`
  expect(shape.test('tideway.demo.nightly-yield-2026-12-01T01:00:00Z/shard-3')).toBe(false);
  expect(scheduledRunId('a.b').test('aXb-2026-12-01T01:00:00Z')).toBe(false); // dots are literal
});
