import { z } from 'zod';
import { defineCatalog } from '../../config/catalog-schema';
import { catalog } from '../../examples/demo/catalog';
import { parseDuration } from '../../config/duration';
import { MAX_INPUT_DEPTH, nestedDeeperThan, resolveEnvelope } from '../../config/envelope';
import { defineTask } from '../../config/task';
import { compileRetry, retryPolicySchema, throttledDelayMs } from '../../config/retry';
import { cronProblem, toTemporalCron, cronFires } from '../../config/schedule';

const handler = async (x: unknown) => x;

describe('durations', () => {
  test.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    [1500, 1500],
    ['1.5s', 1500],
  ])('%p → %p ms', (input, ms) => expect(parseDuration(input)).toBe(ms));
  test.each(['', '10', '-1s', 'ten seconds', '5 y', -5, NaN])('%p is rejected', (v) => expect(parseDuration(v)).toBeUndefined());
});

describe('retry policy', () => {
  test('defaults come from one place and compile to ms', () => {
    const c = compileRetry(retryPolicySchema.parse({}));
    expect(c).toEqual({
      maxAttempts: 8,
      retryable: { initialMs: 1000, backoff: 2, maxMs: 60_000 },
      throttled: { initialMs: 10_000, backoff: 3, maxMs: 600_000, honorRetryAfter: true },
      nonRetryable: ['ValidationError', 'PermissionDenied'],
    });
  });
  test('throttled delay follows its schedule, is capped, and honours Retry-After', () => {
    const t = { initialMs: 10_000, backoff: 3, maxMs: 600_000, honorRetryAfter: true };
    expect([1, 2, 3, 4, 5, 6].map((a) => throttledDelayMs(t, a))).toEqual([10_000, 30_000, 90_000, 270_000, 600_000, 600_000]);
    expect(throttledDelayMs(t, 3, 4_000)).toBe(4_000);
    expect(throttledDelayMs({ ...t, honorRetryAfter: false }, 1, 4_000)).toBe(10_000);
  });
});

describe('catalog validation', () => {
  const ok = defineTask({ name: 'x.ok', group: 'x', input: z.object({ a: z.number() }), handler });
  test('a valid catalog compiles pools for every lane of every group', () => {
    const c = defineCatalog({ tasks: [ok] });
    expect(c.pools.map((p) => `${p.group}/${p.lane}`)).toEqual(['x/high', 'x/normal', 'x/low']);
    expect(c.get('x.ok')?.timeouts).toEqual({ startToCloseMs: 300_000, heartbeatMs: 30_000 });
  });
  test('a bad retry field fails at load with its path', () => {
    const bad = defineTask({ name: 'x.bad', group: 'x', input: z.object({}), retry: { maxAttempts: 0 }, handler });
    expect(() => defineCatalog({ tasks: [ok, bad] })).toThrow(/tasks\.1\(x\.bad\)\.retry\.maxAttempts/);
  });
  test('a bad duration names the field and the accepted forms', () => {
    const bad = defineTask({ name: 'x.bad', group: 'x', input: z.object({}), timeouts: { startToClose: '10 parsecs' as never }, handler });
    expect(() => defineCatalog({ tasks: [bad] })).toThrow(/tasks\.0\(x\.bad\)\.timeouts\.startToClose: invalid duration/);
  });
  test('name must start with its group; duplicates are refused', () => {
    const wrong = defineTask({ name: 'y.thing', group: 'x', input: z.object({}), handler });
    expect(() => defineCatalog({ tasks: [wrong] })).toThrow(/tasks\.0\(y\.thing\)\.name: name must start with its group/);
    expect(() => defineCatalog({ tasks: [ok, ok] })).toThrow(/tasks\.1\.name: duplicate task type x\.ok/);
  });
  test('a bad cron names the schedule and the field', () => {
    const sched = defineTask({
      name: 'x.cron',
      group: 'x',
      input: z.object({}),
      handler,
      schedules: [{ id: 'nightly', cron: '61 * * * *', input: {} }],
    });
    expect(() => defineCatalog({ tasks: [sched] })).toThrow(/tasks\.0\(x\.cron\)\.schedules\.0\.cron: invalid cron/);
  });
  test('schedule input must pass the type schema', () => {
    const sched = defineTask({
      name: 'x.cron',
      group: 'x',
      input: z.object({ n: z.number() }),
      handler,
      schedules: [{ id: 'n', cron: '0 2 * * *', input: { n: 'x' } }],
    });
    expect(() => defineCatalog({ tasks: [sched] })).toThrow(/schedules\.0\.input\.n/);
  });
  test('pool settings are validated per lane', () => {
    expect(() => defineCatalog({ tasks: [ok], pools: { x: { low: { minReplicas: 5, maxReplicas: 2 } } } })).toThrow(
      /pools\.x\.low\.maxReplicas/,
    );
    expect(() => defineCatalog({ tasks: [ok], pools: { nope: { all: { concurrency: 1 } } } })).toThrow(
      /pools\.nope: no task type belongs to group nope/,
    );
  });
});

describe('envelope resolution', () => {
  test("an app's catalog resolves to the app's pool queue (what the API's backpressure reads)", () => {
    expect(resolveEnvelope(catalog.withApp('alpha'), { type: 'demo.echo', input: {}, lane: 'low' }).taskQueue).toBe(
      'tideway.alpha.demo.low',
    );
  });
  test('valid envelope resolves group, lane, queue and tenant', () => {
    const r = resolveEnvelope(catalog, { type: 'demo.sleep', input: { ms: 5 }, lane: 'high', tenant: 'acme', delay: '2s' });
    expect(r).toMatchObject({
      type: 'demo.sleep',
      group: 'demo',
      lane: 'high',
      tenant: 'acme',
      taskQueue: 'tideway.demo.high',
      delayMs: 2000,
    });
  });
  test.each([
    [{ type: 'demo.sleep', input: { ms: 'x' } }, /input\.ms/],
    [{ type: 'demo.nope', input: {} }, /unknown task type "demo\.nope"/],
    [{ type: 'demo.echo', input: {}, lane: 'urgent' }, /lane/],
    [{ type: 'demo.echo', input: {}, delay: '-1s' }, /delay: invalid duration/],
    [{ type: 'demo.echo', input: {}, ttl: 'soon' }, /ttl: invalid duration/],
    [{ type: 'demo.echo', input: {}, extra: 1 }, /extra/],
    [{ type: 'demo.echo', input: 'x'.repeat(300_000) }, /input is \d+ bytes/],
  ])('%# rejects with the field named', (env, msg) => expect(() => resolveEnvelope(catalog, env)).toThrow(msg));
});

describe('input depth', () => {
  const nest = (levels: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
    return v;
  };
  test('depth counts arrays and objects, and is measured without recursion', () => {
    expect(nestedDeeperThan(nest(MAX_INPUT_DEPTH), MAX_INPUT_DEPTH)).toBe(false);
    expect(nestedDeeperThan(nest(MAX_INPUT_DEPTH + 1), MAX_INPUT_DEPTH)).toBe(true);
    expect(nestedDeeperThan(nest(200_000), MAX_INPUT_DEPTH)).toBe(true);
    expect(nestedDeeperThan('x'.repeat(10), 0)).toBe(false);
  });
  test('every entry point that resolves an envelope refuses deeper input with a ValidationError naming the limit', () => {
    expect(() => resolveEnvelope(catalog, { type: 'demo.echo', input: nest(100_000) })).toThrow(
      /input: input nests deeper than 64 levels of arrays and objects/,
    );
    expect(resolveEnvelope(catalog, { type: 'demo.echo', input: nest(MAX_INPUT_DEPTH) }).type).toBe('demo.echo');
  });
});

describe('cron', () => {
  test('5 and 6 fields are accepted, 6-field goes to Temporal with a year', () => {
    expect(cronProblem('0 2 * * *')).toBeUndefined();
    expect(cronProblem('*/5 * * * * *')).toBeUndefined();
    expect(toTemporalCron('*/5 * * * * *')).toBe('*/5 * * * * * *');
    expect(toTemporalCron('0 2 * * *')).toBe('0 2 * * *');
    expect(cronProblem('0 2 * *')).toMatch(/5 fields/);
    expect(cronProblem('0 2 * * *', 'Mars/Base')).toMatch(/unknown time zone/);
  });
  test('fires are expanded in a window', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    const fires = cronFires('0 */6 * * *', from, new Date('2026-01-02T00:00:00Z'), 'UTC');
    expect(fires.map((d) => d.toISOString())).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T06:00:00.000Z',
      '2026-01-01T12:00:00.000Z',
      '2026-01-01T18:00:00.000Z',
    ]);
  });
});
