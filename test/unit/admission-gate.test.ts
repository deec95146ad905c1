import type { Client } from '@temporalio/client';
import Long from 'long';
import { createAdmission } from '../../admission';
import { FairGate } from '../../admission/fair-gate';
import { LatencyWindow, pressureOf } from '../../admission/health';
import { AdmissionClosedError, AdmissionThrottledError, parseAdmission } from '../../config/admission';
import { catalog } from '../../examples/demo/catalog';
import { ManualClock, flush } from '../helpers/manual-clock';

/** The fair gate on a manual clock: pacing, round-robin tenants, refusals that take nothing, aborts. */

function setup(perSecond: number, burst: number) {
  const clock = new ManualClock();
  const gate = new FairGate(clock);
  gate.setPace('low', { perSecond, burst });
  const order: string[] = [];
  const take = (tenant: string, label = tenant, opts: { maxWaitMs?: number; signal?: AbortSignal } = {}) =>
    gate.acquire('low', tenant, opts).then(() => {
      order.push(label);
    });
  return { clock, gate, order, take };
}

test('a burst goes at once, then starts are spaced by 1/rate (the fixed budgets’ GCRA)', async () => {
  const { clock, order, take } = setup(4, 2);
  const t0 = clock.now();
  const at: number[] = [];
  for (let i = 0; i < 5; i++) void take('a', `a${i}`).then(() => at.push(clock.now() - t0));
  await flush();
  expect(order).toEqual(['a0', 'a1']);
  await clock.advance(1000);
  expect(at).toEqual([0, 0, 250, 500, 750]);
});

test('two tenants get alternating permits', async () => {
  const { clock, order, take } = setup(10, 1);
  await take('a', 'a0'); // the one burst token
  for (let i = 1; i <= 3; i++) void take('a', `a${i}`);
  for (let i = 1; i <= 3; i++) void take('b', `b${i}`);
  await clock.advance(600);
  expect(order).toEqual(['a0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
});

test("a tenant arriving late is served before the first tenant's backlog drains", async () => {
  const { clock, order, take } = setup(10, 1);
  for (let i = 0; i < 50; i++) void take('flood', `f${i}`);
  await clock.advance(300); // f0 at once, f1..f3 paced
  void take('late', 'late');
  await clock.advance(200);
  // Served on its first turn: one flood start ahead of it, not the flood's remaining 46.
  expect(order).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'late']);
  await clock.advance(300);
  expect(order.slice(6)).toEqual(['f5', 'f6', 'f7']);
});

test('a wait beyond maxWait throws with when to retry, and takes no permit', async () => {
  const { clock, gate, order, take } = setup(1, 1);
  await take('a', 'first');
  void take('a', 'second', { maxWaitMs: 5_000 }); // due in 1 s
  await flush();
  const refused = gate.acquire('low', 'a', { maxWaitMs: 1_500 }); // would be due in 2 s
  await expect(refused).rejects.toBeInstanceOf(AdmissionThrottledError);
  await expect(refused).rejects.toMatchObject({ type: 'AdmissionThrottled', lane: 'low', retryAfterMs: 500 });
  // The refused call reserved nothing: the next one is still due 2 s from now.
  const t0 = clock.now();
  let thirdAt = 0;
  void take('a', 'third', { maxWaitMs: 5_000 }).then(() => (thirdAt = clock.now() - t0));
  await clock.advance(3_000);
  expect(order).toEqual(['first', 'second', 'third']);
  expect(thirdAt).toBe(2_000);
});

test('maxWait 0 over the budget refuses at once (the HTTP API’s 429 path)', async () => {
  const clock = new ManualClock();
  const gate = new FairGate(clock);
  gate.setPace('low', parseAdmission('low=0.2/s,burst=2').low);
  await gate.acquire('low', 't', { maxWaitMs: 0 });
  await gate.acquire('low', 't', { maxWaitMs: 0 });
  await expect(gate.acquire('low', 't', { maxWaitMs: 0 })).rejects.toMatchObject({ retryAfterMs: 5_000 });
});

test('a waiter whose wait grows past maxWait (the rate fell) is refused at its deadline, taking nothing', async () => {
  const { clock, gate, order, take } = setup(2, 1);
  await take('a', 'a0');
  const second = take('a', 'a1', { maxWaitMs: 1_000 }); // due in 500 ms
  gate.setPace('low', { perSecond: 0.1, burst: 1 }); // now due in 10 s
  const settled = second.catch((e: unknown) => e);
  await clock.advance(1_000);
  expect(await settled).toBeInstanceOf(AdmissionThrottledError);
  expect(gate.waiting('low')).toBe(0);
  expect(order).toEqual(['a0']);
});

test('abort: the wait rejects with the reason and its place goes to the next waiter', async () => {
  const { clock, gate, order, take } = setup(10, 1);
  await take('a', 'a0');
  const ac = new AbortController();
  const aborted = take('a', 'a1', { signal: ac.signal }).catch((e: unknown) => e);
  void take('b', 'b1');
  ac.abort(new Error('caller went away'));
  expect(((await aborted) as Error).message).toBe('caller went away');
  await clock.advance(100);
  expect(order).toEqual(['a0', 'b1']);
  // An already aborted signal never queues.
  const done = new AbortController();
  done.abort(new Error('gone'));
  await expect(gate.acquire('low', 'a', { signal: done.signal })).rejects.toThrow('gone');
});

test('the high lane and unpaced lanes never wait; lanes do not share a budget', async () => {
  const { gate } = setup(1, 1);
  gate.setPace('high', { perSecond: 1, burst: 1 }); // ignored: the high lane is what admission protects
  await gate.acquire('low', 'a');
  for (let i = 0; i < 5; i++) await gate.acquire('high', 'a', { maxWaitMs: 0 });
  for (let i = 0; i < 5; i++) await gate.acquire('normal', 'a', { maxWaitMs: 0 });
  await expect(gate.acquire('low', 'a', { maxWaitMs: 0 })).rejects.toBeInstanceOf(AdmissionThrottledError);
});

test('a faster rate serves waiters sooner; takeLimited says demand reached the rate', async () => {
  const { clock, gate, order, take } = setup(1, 1);
  expect(gate.takeLimited('low')).toBe(false);
  await take('a', 'a0');
  for (let i = 1; i <= 4; i++) void take('a', `a${i}`);
  await flush();
  expect(gate.takeLimited('low')).toBe(true);
  gate.setPace('low', { perSecond: 100, burst: 1 });
  await clock.advance(50);
  expect(order).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
  expect(gate.takeLimited('low')).toBe(false);
});

test('close rejects waiters and later calls', async () => {
  const { gate, take } = setup(1, 1);
  await take('a');
  const waiting = take('a').catch((e: unknown) => e);
  gate.close();
  expect(await waiting).toBeInstanceOf(AdmissionClosedError);
  await expect(gate.acquire('low', 'a')).rejects.toBeInstanceOf(AdmissionClosedError);
});

describe('health', () => {
  test('pressure is the worst input against its budget: queue ages against the objective, start p90 against half', () => {
    const base = { startSamples: 0, statsAt: 0, statsError: undefined };
    expect(pressureOf({ ...base, controlBacklogAgeMs: 100, highBacklogAgeMs: 50, startP90Ms: 25 }, 250)).toEqual({
      pressure: 0.4,
      parts: { controlBacklog: 0.4, highBacklog: 0.2, startLatency: 0.2 },
    });
    expect(pressureOf({ ...base, controlBacklogAgeMs: 0, highBacklogAgeMs: 0, startP90Ms: 250 }, 250).pressure).toBe(2);
    expect(pressureOf({ ...base, controlBacklogAgeMs: undefined, highBacklogAgeMs: undefined, startP90Ms: undefined }, 250).pressure).toBe(
      undefined,
    );
  });

  test('the start-latency window: a p90 once there are enough samples, old ones dropped', () => {
    const w = new LatencyWindow(5_000, 5);
    for (let i = 1; i <= 4; i++) w.add(1_000, i * 10);
    expect(w.p90(1_000)).toEqual({ count: 4, p90: undefined });
    for (let i = 5; i <= 10; i++) w.add(2_000, i * 10);
    expect(w.p90(2_000)).toEqual({ count: 10, p90: 90 });
    expect(w.p90(6_500)).toEqual({ count: 6, p90: 100 }); // the four at t=1000 left the window
    expect(w.p90(8_000).count).toBe(0);
  });
});

describe('createAdmission', () => {
  test('off: every acquire resolves at once, no rates', async () => {
    const g = createAdmission({ mode: { kind: 'off' } });
    for (let i = 0; i < 100; i++) await g.acquire('low', 't', { maxWaitMs: 0 });
    expect(g.rates()).toEqual({});
    await g.close();
  });

  test('fixed: the spec’s lanes at their rates', async () => {
    const g = createAdmission({ mode: { kind: 'fixed', spec: parseAdmission('low=2/s;normal=50/s,burst=100') }, clock: new ManualClock() });
    expect(g.rates()).toEqual({ normal: 50, low: 2 });
    expect(g.snapshot()).toMatchObject({ mode: 'fixed', rates: { normal: 50, low: 2 }, waiting: { normal: 0, low: 0 } });
    await g.close();
  });

  describe('adaptive, on a stubbed server', () => {
    beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
    afterEach(() => jest.useRealTimers());

    /** A client whose DescribeTaskQueue reports `age()` ms of backlog on every queue, recording what was asked. */
    function stubClient(age: () => number) {
      const asked: { name: string; type: number }[] = [];
      const client = {
        options: { namespace: 'default' },
        workflowService: {
          describeTaskQueue: async (req: { taskQueue: { name: string }; taskQueueType: number }) => {
            asked.push({ name: req.taskQueue.name, type: req.taskQueueType });
            const ms = age();
            return {
              stats: {
                approximateBacklogCount: 0,
                approximateBacklogAge: { seconds: Long.fromNumber(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 },
              },
            };
          },
        },
      } as unknown as Client;
      return { client, asked };
    }

    test('starts at 20/s on normal and low; high unpaced; rises while limited and healthy; halves on pressure', async () => {
      let age = 0;
      const { client, asked } = stubClient(() => age);
      const g = createAdmission({ mode: { kind: 'adaptive', objectiveMs: 250 }, client, catalog });
      expect(g.rates()).toEqual({ normal: 20, low: 20 });
      // Keep the low lane demand-limited: a steady stream of waiters.
      const pump = setInterval(() => void g.acquire('low', 't').catch(() => {}), 10);
      await jest.advanceTimersByTimeAsync(3_000);
      const raised = g.rates().low!;
      expect(raised).toBeGreaterThan(20);
      expect(g.rates().normal).toBe(20); // no demand there: no increase
      // The control queue (workflow tasks, type 1) and the high pool (activity tasks, type 2) were read.
      expect(asked).toEqual(
        expect.arrayContaining([
          { name: catalog.controlQueue, type: 1 },
          { name: catalog.pool('demo', 'high')!.taskQueue, type: 2 },
        ]),
      );
      age = 1_000; // the control queue's oldest task waits 4x the objective
      await jest.advanceTimersByTimeAsync(1_600);
      const s = g.snapshot();
      expect(s.health?.pressure).toBe(4);
      expect(g.rates().low).toBeLessThan(raised);
      await g.acquire('high', 't', { maxWaitMs: 0 });
      clearInterval(pump);
      await g.close();
    });

    test('start latency alone is a signal: a slow server cuts the rate (×0.6)', async () => {
      const g = createAdmission({ mode: { kind: 'adaptive', objectiveMs: 250 } });
      for (let i = 0; i < 10; i++) g.observeStart('low', 400); // p90 400 ms against a 125 ms budget
      await jest.advanceTimersByTimeAsync(600);
      expect(g.rates()).toEqual({ normal: 12, low: 12 });
      expect(g.snapshot().health).toMatchObject({ startP90Ms: 400, startSamples: 10 });
      await g.close();
    });

    test("the high lane's measured first-task wait is a signal; other lanes' waits are not", async () => {
      const g = createAdmission({ mode: { kind: 'adaptive', objectiveMs: 250 } });
      for (let i = 0; i < 10; i++) g.observeFirstTaskWait('low', 5_000); // ignored: not the lane protected
      for (let i = 0; i < 10; i++) g.observeStart('low', 5); // keeps the gate in use, healthy
      await jest.advanceTimersByTimeAsync(600);
      expect(g.rates().low).toBe(20);
      for (let i = 0; i < 10; i++) g.observeFirstTaskWait('high', 100); // p90 100 ms against 20% of 250 ms
      for (let i = 0; i < 10; i++) g.observeStart('low', 5);
      await jest.advanceTimersByTimeAsync(600);
      expect(g.snapshot().health).toMatchObject({ highFirstWaitP90Ms: 100, parts: { highFirstWait: 2 } });
      expect(g.rates().low).toBe(12);
      await g.close();
    });

    test('polling stops when the gate is idle', async () => {
      const { client, asked } = stubClient(() => 0);
      const g = createAdmission({ mode: { kind: 'adaptive', objectiveMs: 250 }, client, catalog });
      await g.acquire('low', 't');
      await jest.advanceTimersByTimeAsync(15_000);
      const n = asked.length;
      expect(n).toBeGreaterThan(0);
      await jest.advanceTimersByTimeAsync(30_000);
      expect(asked.length).toBe(n);
      await g.close();
    });
  });
});
