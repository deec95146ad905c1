import { catalogScheduleOptions } from '../../api/schedules';
import type { CompiledSchedule } from '../../config/schedule';
import { catalog } from '../../examples/demo/catalog';
import { addTotals, yieldOf, ZERO_TOTALS, type YieldTotals } from '../../examples/demo/yield';
import { dryRunActuator } from '../../scaler/actuators/dry-run';
import { compileScalerOptions } from '../../scaler/options';
import { Scaler } from '../../scaler/scaler';
import { forecastSignal } from '../../scaler/signals/forecast';
import type { ForecastFire } from '../../scaler/types';
import { uniqueId, useStack, waitFor, type Stack } from '../helpers/stack';

/**
 * Batch types on a cron schedule, on the real server: the scaler learns a batch schedule's size
 * (shards) from its completed runs and plans the next fire with the batch's parallel cap; the demo's
 * nightly `demo.yield` schedule, triggered, reduces to the direct computation of its totals.
 */

jest.setTimeout(180_000);

// demo.yield runs on the low lane: its shards, split and reduce need only that pool.
const stack = useStack({ pools: [['demo', 'low']] });

/** Fires the schedule now and returns the workflow ID of the batch it started. */
async function trigger(s: Stack, scheduleId: string): Promise<string> {
  const handle = s.temporal.schedule.getHandle(scheduleId);
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  return waitFor(
    async () => {
      const actions = (await handle.describe()).info.recentActions;
      return actions.length > before ? actions[actions.length - 1]!.action.workflow.workflowId : undefined;
    },
    20_000,
    'the triggered fire',
  );
}

function expectedTotals(seed: number, accounts: number, perShard: number): YieldTotals {
  let t = ZERO_TOTALS;
  for (let from = 0; from < accounts; from += perShard) t = addTotals(t, yieldOf(seed, from, Math.min(accounts, from + perShard)));
  return t;
}

test('a batch schedule: declared size until a run completed, then its learned shards, planned up to maxParallel', async () => {
  const id = uniqueId('learn-yield');
  const sched: CompiledSchedule = {
    id,
    scheduleId: `tideway-test.${id}`,
    taskType: 'demo.yield',
    group: 'demo',
    lane: 'low',
    cron: '0 1 * * *',
    timezone: 'UTC',
    input: { accounts: 120, seed: 5, perShard: 8 }, // 15 shards
    app: undefined,
    overlap: 'ALLOW_ALL',
    expectedTasks: 1, // declared (wrong on purpose): what the scaler assumes until it learned
    batch: true,
  };
  await stack.temporal.schedule.create(catalogScheduleOptions(sched));
  // The control worker synced the catalog's schedules at start: paused, they forecast nothing, so
  // this forecast holds only the test's schedule. (The catalog's copy is left out of it as well.)
  for (const s of catalog.schedules) await stack.temporal.schedule.getHandle(s.scheduleId).pause('batch-schedule test');
  const signal = forecastSignal({ catalog: { ...catalog, schedules: [] }, client: stack.temporal, horizonMs: 86_400_000 });
  // demo.low with 2 slots a replica and room for 10: 8 slots (maxParallel) = 4 replicas, 15 would be 8.
  const options = compileScalerOptions(
    {
      pools: ['demo.low'],
      meanDuration: '60s',
      learnMeanDuration: false,
      targetDrainTime: '60s',
      // A lead of a day: the next 01:00 UTC fire is always within it.
      poolOverrides: { 'demo.low': { concurrency: 2, minReplicas: 0, maxReplicas: 10, startupSeconds: 86_400 } },
    },
    catalog.pools,
  );
  const fireOf = (fires: readonly ForecastFire[]) => fires.find((f) => f.scheduleId === sched.scheduleId);
  /** One decision of a fresh scaler (pool at zero, no history) over the shared signal, which keeps what it learned. */
  const nextFire = async () => {
    const scaler = new Scaler({ options, signals: [signal], actuator: dryRunActuator() });
    const [d] = await scaler.round();
    const fire = fireOf(d!.observation.fires);
    return { d: d!, fire };
  };
  try {
    // Schedule listing is eventually consistent: wait until it shows the pauses.
    const declared = await waitFor(
      async () => {
        const n = await nextFire();
        return n.d.observation.fires.length === 1 ? n : undefined;
      },
      15_000,
      "a forecast of the test's schedule alone",
    );
    expect(declared.fire).toMatchObject({ source: 'server', expectedTasks: 1, sizeSource: 'declared', maxParallel: 8 });
    expect(declared.d.decision.forecastTasks).toBe(1);
    expect(declared.d.decision.desiredConcurrency).toBeCloseTo(1, 6); // min(1, 8, 1 x 60 s / 60 s)
    expect(declared.d.decision).toMatchObject({ target: 1, reason: 'prewarm' });

    const first = await trigger(stack, sched.scheduleId);
    // Temporal names the run `<workflowId>-<fire time>`; the learner finds it by that shape.
    expect(first).toMatch(new RegExp(`^${sched.scheduleId.replace(/\./g, '\\.')}-\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$`));
    const res = await stack.client.result(first, 'demo.yield');
    expect(res).toMatchObject({ total: 15, succeeded: 15, failed: 0 });
    expect(res.output).toEqual(expectedTotals(5, 120, 8));

    // Visibility catches up with the close within a moment.
    const learned = await waitFor(
      async () => {
        const n = await nextFire();
        return n.fire?.sizeSource === 'learned' ? n : undefined;
      },
      15_000,
      'the learned size',
    );
    expect(learned.fire).toMatchObject({ expectedTasks: 15, sizeSource: 'learned', maxParallel: 8 });
    // 15 shards x 60 s / 60 s = 15 slots, capped at maxParallel 8: 4 replicas of 2 slots, not 8.
    expect(learned.d.decision.forecastTasks).toBe(15);
    expect(learned.d.decision.desiredConcurrency).toBeCloseTo(8, 6);
    expect(learned.d.decision.target).toBe(4);
    expect(learned.d.decision.reason).toBe('prewarm');
  } finally {
    await stack.temporal.schedule.getHandle(sched.scheduleId).delete();
    for (const s of catalog.schedules) await stack.temporal.schedule.getHandle(s.scheduleId).unpause();
  }
});

test("the demo's nightly yield schedule: created by sync, triggered, reduces to the direct totals", async () => {
  const nightly = catalog.schedules.find((s) => s.id === 'demo.nightly-yield')!;
  expect(nightly).toMatchObject({ taskType: 'demo.yield', cron: '0 1 * * *', timezone: 'UTC', batch: true, expectedTasks: 100 });
  const input = nightly.input as { accounts: number; seed: number; perShard: number };
  const report = await stack.client.schedules.sync(catalog);
  expect([...report.created, ...report.updated]).toContain(nightly.scheduleId);
  try {
    const d = await stack.temporal.schedule.getHandle(nightly.scheduleId).describe();
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'runBatch' });
    expect(d.info.nextActionTimes[0]!.getUTCHours()).toBe(1);

    const id = await trigger(stack, nightly.scheduleId);
    const res = await stack.client.result(id, 'demo.yield');
    const shards = Math.ceil(input.accounts / input.perShard);
    expect(res).toEqual({
      output: expectedTotals(input.seed, input.accounts, input.perShard),
      total: shards,
      succeeded: shards,
      failed: 0,
      failedShards: [],
    });
    // The totals of the whole book, computed directly in one pass.
    const direct = yieldOf(input.seed, 0, input.accounts);
    expect(res.output).toMatchObject({
      accounts: direct.accounts,
      balanceCents: direct.balanceCents,
      yieldCents: direct.yieldCents,
      shards,
    });
    const state = await stack.client.get(id);
    expect(state).toMatchObject({ status: 'succeeded', type: 'demo.yield' });
    expect(state.batch).toMatchObject({ total: shards, done: shards, failed: 0, running: 0 });
    // 100 shards over 100-shard runs: the parent continued as new, and its final run, which passes
    // its search attributes explicitly, no longer has Temporal's TemporalScheduledById. The learner
    // therefore finds a schedule's runs by workflow ID, and learns across the continue-as-new.
    expect(state.batch?.runs).toBe(2);
    const desc = await stack.temporal.workflow.getHandle(id).describe();
    expect(desc.raw.workflowExecutionInfo?.searchAttributes?.indexedFields?.TemporalScheduledById).toBeUndefined();
    const learned = await waitFor(
      async () => {
        const reading = await forecastSignal({ catalog, client: stack.temporal, horizonMs: 86_400_000 }).read(
          compileScalerOptions({}, catalog.pools).pools,
          Date.now(),
        );
        const fire = reading.get('demo.low')?.fires?.find((f) => f.scheduleId === nightly.scheduleId);
        return fire?.sizeSource === 'learned' ? fire : undefined;
      },
      15_000,
      "the nightly schedule's learned size",
    );
    expect(learned).toMatchObject({ expectedTasks: shards, maxParallel: 8, source: 'server' });
  } finally {
    for (const s of catalog.schedules)
      await stack.temporal.schedule
        .getHandle(s.scheduleId)
        .delete()
        .catch(() => undefined);
  }
});
