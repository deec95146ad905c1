import { temporal } from '@temporalio/proto';
import { uniqueId, waitFor, type LedgerEntry, useStack } from '../helpers/stack';

jest.setTimeout(90_000);

const stack = useStack({
  pools: [
    ['demo', 'normal'],
    ['demo', 'high'],
  ],
});

/** Gaps (ms) between consecutive handler runs, measured outside Temporal by the ledger. */
function gaps(runs: LedgerEntry[]): number[] {
  return runs.slice(1).map((r, i) => r.at - runs[i]!.at);
}

const EventType = temporal.api.enums.v1.EventType;

async function activityEvents(id: string) {
  const history = await stack.client.handle(id).fetchHistory();
  return history.events ?? [];
}

test('retryable errors follow the retryable schedule (200ms × 2ⁿ) and the history shows the attempts', async () => {
  const id = uniqueId('retryable');
  await stack.client.submit('demo.fail', { errorClass: 'retryable', times: 3 }, { taskId: id });
  await expect(stack.client.result(id)).resolves.toEqual({ attempts: 4 });
  const g = gaps(stack.ledgerFor(id));
  expect(g).toHaveLength(3);
  // demo.fail: initial 200ms, backoff 2 → 200, 400, 800 (server timers add a little, never less).
  [200, 400, 800].forEach((expected, i) => {
    expect(g[i]).toBeGreaterThanOrEqual(expected * 0.9);
    expect(g[i]).toBeLessThan(expected + 1_500);
  });
  const events = await activityEvents(id);
  const scheduled = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)!;
  expect(scheduled.activityTaskScheduledEventAttributes?.retryPolicy).toMatchObject({ maximumAttempts: 5, backoffCoefficient: 2 });
  const started = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)!;
  expect(started.activityTaskStartedEventAttributes?.attempt).toBe(4);
  expect(started.activityTaskStartedEventAttributes?.lastFailure?.applicationFailureInfo?.type).toBe('RetryableError');
});

test('throttled errors wait on their own longer schedule (500ms × 2ⁿ), or Retry-After when given', async () => {
  const id = uniqueId('throttled');
  await stack.client.submit('demo.fail', { errorClass: 'throttled', times: 2 }, { taskId: id });
  await stack.client.result(id);
  const g = gaps(stack.ledgerFor(id));
  [500, 1000].forEach((expected, i) => {
    expect(g[i]).toBeGreaterThanOrEqual(expected * 0.9);
    expect(g[i]).toBeLessThan(expected + 1_500);
  });

  const ra = uniqueId('retryafter');
  await stack.client.submit('demo.fail', { errorClass: 'throttled', times: 1, retryAfterMs: 2_500 }, { taskId: ra });
  await stack.client.result(ra);
  const [gap] = gaps(stack.ledgerFor(ra));
  expect(gap).toBeGreaterThanOrEqual(2_500 * 0.95);
  expect(gap).toBeLessThan(2_500 + 1_500);
  const events = await activityEvents(ra);
  const started = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)!;
  expect(started.activityTaskStartedEventAttributes?.lastFailure?.applicationFailureInfo?.type).toBe('ThrottledError');
});

test('a non-retryable error stops after one attempt and dead-letters the task, searchable, with its error', async () => {
  const id = uniqueId('nonretry');
  await stack.client.submit('demo.fail', { errorClass: 'non_retryable', times: 1 }, { taskId: id });
  const state = await waitFor(async () => {
    const s = await stack.client.get(id);
    return s.status === 'dead_lettered' ? s : undefined;
  });
  expect(state).toMatchObject({ attempts: 1, lastError: { type: 'NonRetryableError', class: 'non_retryable', attempt: 1 } });
  expect(state.lastError?.message).toMatch(/planned failures/);
  expect(stack.ledgerFor(id)).toHaveLength(1);
  // Still open (Running in Temporal) and found by the dead-letter filter.
  const row = await waitFor(async () =>
    (await stack.client.list({ status: 'dead_lettered', type: 'demo.fail' })).tasks.find((t) => t.taskId === id),
  );
  expect(row.executionStatus).toBe('RUNNING');

  // Redrive on another lane: fresh attempts; attempt 2 succeeds (demo.fail planned one failure).
  await stack.client.redrive(id, { lane: 'high' });
  await expect(stack.client.result(id)).resolves.toEqual({ attempts: 2 });
  expect(await stack.client.get(id)).toMatchObject({ status: 'succeeded', lane: 'high', redrives: 1 });
  await expect(stack.client.redrive(id)).rejects.toMatchObject({ type: 'TaskConflict' });
});

test('retryable failures that exhaust maxAttempts dead-letter; discard closes the task as failed', async () => {
  const id = uniqueId('exhaust');
  await stack.client.submit('demo.fail', { errorClass: 'retryable', times: 50 }, { taskId: id });
  const s = await waitFor(async () => {
    const st = await stack.client.get(id);
    return st.status === 'dead_lettered' ? st : undefined;
  }, 30_000);
  expect(s).toMatchObject({ attempts: 5, lastError: { class: 'retryable', type: 'RetryableError' } });
  expect(stack.ledgerFor(id)).toHaveLength(5);
  await stack.client.discard(id);
  await expect(stack.client.result(id)).rejects.toMatchObject({ type: 'TaskFailed' });
  expect((await stack.client.get(id)).status).toBe('failed');
});

test('a dead-lettered task closes as failed by itself when its retention ends', async () => {
  const id = uniqueId('retention');
  // demo.flaky keeps dead letters 3s.
  await stack.client.submit('demo.flaky', { errorClass: 'non_retryable', times: 1 }, { taskId: id });
  await waitFor(async () => (await stack.client.get(id)).status === 'dead_lettered');
  const err = await stack.client.result(id).catch((e: unknown) => e);
  expect(err).toMatchObject({ type: 'TaskFailed' });
  expect(String((err as Error).message)).toMatch(/retention/);
  expect((await stack.client.get(id)).status).toBe('failed');
});

test('redrive of a task that is not dead-lettered is a conflict and changes nothing', async () => {
  const id = uniqueId('noredrive');
  await stack.client.submit('demo.echo', 1, { taskId: id });
  await stack.client.result(id);
  await expect(stack.client.redrive(id)).rejects.toMatchObject({ type: 'TaskConflict', status: 'succeeded' });
  await expect(stack.client.discard(id)).rejects.toMatchObject({ type: 'TaskConflict' });
  expect(await stack.client.get(id)).toMatchObject({ status: 'succeeded', redrives: 0 });
});
