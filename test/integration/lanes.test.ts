import { tsToMs } from '@temporalio/common/lib/time';
import { TaskClient } from '../../api/task-client';
import { createAdmission } from '../../admission';
import { parseAdmission } from '../../config/admission';
import { catalog } from '../../examples/demo/catalog';
import { uniqueId, waitFor, useStack } from '../helpers/stack';

/**
 * Lanes under contention with real pools: the low lane's pool is saturated with a backlog, yet
 * high-lane tasks start at once on their own pool, and the low lane keeps making progress.
 * (Queue wait before the activity is scheduled, in the shared control queue, is not isolated by
 * lanes; see docs/pools.md and bench:lanes.)
 */
jest.setTimeout(180_000);

const stack = useStack({
  pools: [
    ['demo', 'high'],
    ['demo', 'low'],
  ],
});

test('a saturated low lane does not delay the high lane, and keeps progressing', async () => {
  const { client } = stack;
  // 100 × 3 s on a pool of 20 slots: a backlog lasting ~12 s after the first wave starts, well
  // beyond the time the high tasks need to get through the shared control queue.
  const low = Array.from({ length: 100 }, () => uniqueId('low'));
  await Promise.all(low.map((id) => client.submit('demo.sleep', { ms: 3_000 }, { taskId: id, lane: 'low', tenant: 'bulk' })));
  const lowStarted = () => low.filter((id) => stack.ledgerFor(id).length > 0).length;
  await waitFor(() => lowStarted() >= 20, 60_000, 'low pool saturated');
  const startedBeforeHigh = lowStarted();
  expect(startedBeforeHigh).toBeLessThan(100); // a backlog is waiting in the low queue

  const high = Array.from({ length: 5 }, () => uniqueId('high'));
  await Promise.all(high.map((id) => client.submit('demo.sleep', { ms: 50 }, { taskId: id, lane: 'high', tenant: 'web' })));
  await Promise.all(high.map((id) => client.result(id)));

  for (const id of high) {
    const history = await stack.temporal.workflow.getHandle(id).fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!;
    const startedAt = stack.ledgerFor(id)[0]!.at;
    // Time in the high pool's own queue: not behind the low lane's backlog (that is seconds long).
    expect(startedAt - tsToMs(scheduled.eventTime!)).toBeLessThan(1_500);
  }
  // The high tasks all ran while the low lane still had most of its work queued…
  const lastHighStart = Math.max(...high.map((id) => stack.ledgerFor(id)[0]!.at));
  const lowStarts = low.flatMap((id) => stack.ledgerFor(id).map((e) => e.at));
  expect(lowStarts.filter((at) => at <= lastHighStart).length).toBeLessThan(100);
  // …and the low lane kept going: every low task finishes.
  await Promise.all(low.map((id) => client.result(id)));
  expect(lowStarted()).toBe(100);
});

test('a paced low lane admits its starts at the budget while a high-lane submit goes at once', async () => {
  const paced = new TaskClient({ client: stack.temporal, catalog, admission: parseAdmission('low=4/s,burst=1') });
  const t0 = Date.now();
  const order: string[] = [];
  const ids = Array.from({ length: 5 }, (_, i) => uniqueId(`paced${i}`));
  const highId = uniqueId('unpaced');
  const lows = ids.map((id, i) => paced.submit('demo.echo', { i }, { taskId: id, lane: 'low' }).then(() => order.push(`low${i}`)));
  const high = paced.submit('demo.echo', { high: true }, { taskId: highId, lane: 'high' }).then(() => order.push('high'));
  await Promise.all([...lows, high]);
  // 5 starts at 4/s with a burst of 1: the last is due 4 intervals (1 s) after the first.
  expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  expect(order.indexOf('high')).toBeLessThan(order.indexOf('low4'));
  expect(order.filter((o) => o.startsWith('low'))).toEqual(['low0', 'low1', 'low2', 'low3', 'low4']);
  // Leave no queued task behind for the next file.
  await Promise.all([...ids, highId].map((id) => stack.client.result(id)));
});

test('adaptive admission reads its health signal from the real server and paces the lower lanes only', async () => {
  const gate = createAdmission({ mode: { kind: 'adaptive', objectiveMs: 250 }, client: stack.temporal, catalog });
  const paced = new TaskClient({ client: stack.temporal, catalog, admission: gate });
  try {
    expect(gate.rates()).toEqual({ normal: 20, low: 20 });
    const ids = Array.from({ length: 10 }, (_, i) => uniqueId(`adaptive${i}`));
    for (const id of ids) await paced.submit('demo.echo', { id }, { taskId: id, lane: 'low', tenant: 'a' });
    const highId = uniqueId('adaptive-high');
    await paced.submit('demo.echo', { high: true }, { taskId: highId, lane: 'high' });
    // DescribeTaskQueue of the control queue (workflow tasks) and the high pool (activity tasks) both answer.
    await waitFor(() => gate.snapshot().health?.statsAt !== undefined, 10_000, 'a health reading');
    const h = gate.snapshot().health!;
    expect(h.statsError).toBeUndefined();
    expect(h.controlBacklogAgeMs).toEqual(expect.any(Number));
    expect(h.highBacklogAgeMs).toEqual(expect.any(Number));
    expect(h.startSamples).toBeGreaterThan(0); // start latencies reported by TaskClient (as of the last tick)
    await Promise.all([...ids, highId].map((id) => stack.client.result(id)));
  } finally {
    await paced.close(); // a gate it was given stays open
    await gate.close();
  }
});
