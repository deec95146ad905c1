import { declaredDelaysMs, effectiveDelaysMs, subSecondRetryWarnings } from '../../config/retry';
import { defineCatalog } from '../../config/catalog-schema';
import { defineTask } from '../../config/task';
import { z } from 'zod';

test.each([
  { b: { initialMs: 200, backoff: 2, maxMs: 2_000 }, declared: [200, 400, 800, 1_600], effective: [1_000, 1_000, 1_000, 1_600] },
  { b: { initialMs: 500, backoff: 2, maxMs: 5_000 }, declared: [500, 1_000, 2_000, 4_000], effective: [1_000, 1_000, 2_000, 4_000] },
  { b: { initialMs: 1_000, backoff: 2, maxMs: 3_000 }, declared: [1_000, 2_000, 3_000, 3_000], effective: [1_000, 2_000, 3_000, 3_000] },
])('$b.initialMs ms × $b.backoff: Temporal waits $effective', ({ b, declared, effective }) => {
  expect(declaredDelaysMs(b, 4)).toEqual(declared);
  expect(effectiveDelaysMs(b, 4)).toEqual(effective);
});

test('a catalog with sub-second delays loads, with a warning naming the field and the real delays', () => {
  const catalog = defineCatalog({
    tasks: [
      defineTask({
        name: 'x.fast',
        group: 'x',
        input: z.unknown(),
        handler: async () => null,
        retry: { maxAttempts: 3, retryable: { initial: '200ms', backoff: 2, max: '2s' } },
      }),
      defineTask({ name: 'x.plain', group: 'x', input: z.unknown(), handler: async () => null }),
    ],
  });
  expect(catalog.warnings).toEqual([
    { path: 'tasks.x.fast.retry.retryable', message: expect.stringContaining('0.2s, 0.4s run as ~1s, 1s') as string },
  ]);
});

test('no warning for whole-second schedules', () => {
  expect(
    subSecondRetryWarnings({
      maxAttempts: 8,
      retryable: { initialMs: 1_000, backoff: 2, maxMs: 60_000 },
      throttled: { initialMs: 10_000, backoff: 3, maxMs: 600_000, honorRetryAfter: true },
      nonRetryable: [],
    }),
  ).toEqual([]);
});
