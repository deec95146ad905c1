import { effectiveDelaysMs, TEMPORAL_RETRY_FLOOR_MS } from '../../config/retry';
import { catalog } from '../../examples/demo/catalog';
import { uniqueId, type LedgerEntry, useStack } from '../helpers/stack';

jest.setTimeout(120_000);

/**
 * What Temporal really waits before an activity retry, measured on the dev server by the ledger
 * (kept outside Temporal): a delay under 1 s runs after ~1 s (the history service's timer floor,
 * `history.timerProcessorMaxTimeShift`); 1 s and more are kept. config/retry.ts says the same in
 * `effectiveDelaysMs`, which `tideway types` and the catalog warnings print.
 */
const stack = useStack({ pools: [['demo', 'normal']] });

function gaps(runs: LedgerEntry[]): number[] {
  return runs.slice(1).map((r, i) => r.at - runs[i]!.at);
}

test('sub-second retry delays (0.2, 0.4, 0.8 s) run after ~1 s each; 1.6 s is kept', async () => {
  const id = uniqueId('floor');
  await stack.client.submit('demo.fail', { errorClass: 'retryable', times: 4 }, { taskId: id });
  await expect(stack.client.result(id)).resolves.toEqual({ attempts: 5 });
  const g = gaps(stack.ledgerFor(id));
  const expected = effectiveDelaysMs(catalog.get('demo.fail')!.compiledRetry.retryable, 4);
  expect(expected).toEqual([1_000, 1_000, 1_000, 1_600]);
  expect(g).toHaveLength(4);
  g.forEach((gap, i) => {
    // Never sooner than the floor (the declared 200/400/800 ms would be), a little later under load.
    expect(gap).toBeGreaterThanOrEqual(expected[i]! - 100);
    expect(gap).toBeLessThan(expected[i]! + 1_500);
  });
  // The three sub-second delays together: ~3 s, not the 1.4 s written in the catalog.
  expect(g[0]! + g[1]! + g[2]!).toBeGreaterThanOrEqual(3 * TEMPORAL_RETRY_FLOOR_MS - 300);
});

test("a throttled error's own 300 ms Retry-After also waits ~1 s", async () => {
  const id = uniqueId('floor-ra');
  await stack.client.submit('demo.fail', { errorClass: 'throttled', times: 1, retryAfterMs: 300 }, { taskId: id });
  await stack.client.result(id);
  const [gap] = gaps(stack.ledgerFor(id));
  expect(gap).toBeGreaterThanOrEqual(TEMPORAL_RETRY_FLOOR_MS - 100);
  expect(gap).toBeLessThan(TEMPORAL_RETRY_FLOOR_MS + 1_500);
});
