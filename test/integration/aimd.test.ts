import { runAimdScenario } from '../../bench/lib-aimd';
import { useStack } from '../helpers/stack';

/**
 * Adaptive concurrency against a real local HTTP server that answers 429 above 5 requests/s
 * (token bucket, 1 s burst, 1 s per accepted request): a pool with concurrency 20 would offer ~20
 * req/s; with AIMD it must settle near 5 req/s and keep 429s bounded (no retry storm).
 * bench/aimd.ts runs the same scenario with a fixed-concurrency baseline beside it.
 */
jest.setTimeout(240_000);

const stack = useStack({ pools: [], env: { TIDEWAY_METRICS_HOST: '127.0.0.1' } });

test('the pool request rate converges near the downstream capacity and 429s stay bounded', async () => {
  const capacityRps = 5;
  const r = await runAimdScenario(stack, { aimd: true, tasks: 120, capacityRps, latencyMs: 1_000 });
  expect(r.failed).toBe(0);
  // The limit really came down from 20 (the slot supplier, not luck, kept the rate down)…
  expect(Math.min(...r.limits)).toBeLessThanOrEqual(8);
  // …the pool used most of the capacity while it had a backlog…
  expect(r.steady.acceptedRps).toBeGreaterThanOrEqual(0.7 * capacityRps);
  // …and did not hammer it: a fixed pool of 20 here sends ~700 429s per 1,000 requests.
  expect(r.steady.offeredRps).toBeLessThanOrEqual(2 * capacityRps);
  expect(r.overall.rejectedPer1000).toBeLessThanOrEqual(350);
});
