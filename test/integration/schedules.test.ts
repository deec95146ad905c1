import { RUN_TASK_WORKFLOW } from '../../config/names';
import { catalogScheduleOptions } from '../../api/schedules';
import { catalog } from '../../examples/demo/catalog';
import type { CompiledSchedule } from '../../config/schedule';
import { uniqueId, waitFor, useStack } from '../helpers/stack';

jest.setTimeout(90_000);

const stack = useStack({ pools: [['demo', 'normal']] });

function everyTwoSeconds(id: string): CompiledSchedule {
  return {
    id,
    scheduleId: `tideway.${id}`,
    taskType: 'demo.echo',
    group: 'demo',
    lane: 'normal',
    cron: '*/2 * * * * *', // 6 fields: seconds first (cron-parser's convention)
    timezone: undefined,
    input: { from: id },
    app: undefined,
    overlap: 'SKIP',
    expectedTasks: 1,
  };
}

async function firedTaskIds(scheduleId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of stack.temporal.workflow.list({
    query: `WorkflowType="${RUN_TASK_WORKFLOW}" AND WorkflowId STARTS_WITH "${scheduleId}-"`,
  }))
    ids.push(wf.workflowId);
  return ids;
}

test('a schedule fires, each fire is one task run once; pause stops fires; trigger fires now', async () => {
  const sched = everyTwoSeconds(uniqueId('every2s'));
  await stack.temporal.schedule.create(catalogScheduleOptions(sched));
  const handle = stack.temporal.schedule.getHandle(sched.scheduleId);
  try {
    const fired = await waitFor(
      async () => {
        const ids = await firedTaskIds(sched.scheduleId);
        return ids.length >= 2 ? ids : undefined;
      },
      30_000,
      'two fires',
    );
    for (const id of fired.slice(0, 2)) {
      await expect(stack.client.result(id)).resolves.toEqual({ from: sched.id });
      expect(stack.ledgerFor(id)).toHaveLength(1);
      expect(await stack.client.get(id)).toMatchObject({ type: 'demo.echo', status: 'succeeded', lane: 'normal' });
    }

    await stack.client.schedules.pause(sched.scheduleId);
    const atPause = (await handle.describe()).info.recentActions.length;
    // A paused schedule takes no actions: wait three periods and compare.
    await new Promise((r) => setTimeout(r, 6_000));
    const d = await handle.describe();
    expect(d.state.paused).toBe(true);
    expect(d.info.recentActions.length).toBe(atPause);

    await stack.client.schedules.trigger(sched.scheduleId);
    await waitFor(async () => (await handle.describe()).info.recentActions.length === atPause + 1, 15_000, 'triggered fire');

    const listed = await stack.client.schedules.list();
    const row = listed.find((s) => s.scheduleId === sched.scheduleId);
    // The cron as the catalog gives it (Temporal hands a schedule's spec back as calendars only).
    expect(row).toMatchObject({ taskType: 'demo.echo', lane: 'normal', cron: [sched.cron], paused: true, source: 'catalog' });
  } finally {
    await handle.delete().catch(() => undefined);
  }
});

test('sync makes the server match the catalog: creates, updates, removes only Tideway schedules', async () => {
  const stale = everyTwoSeconds(uniqueId('stale'));
  await stack.temporal.schedule.create({ ...catalogScheduleOptions(stale), state: { paused: true } });
  const foreignId = uniqueId('not-tideway');
  await stack.temporal.schedule.create({
    scheduleId: foreignId,
    spec: { cronExpressions: ['0 3 * * *'] },
    action: { type: 'startWorkflow', workflowType: 'someoneElses', taskQueue: 'elsewhere', args: [] },
  });
  try {
    // Sync finds schedules to remove by listing them, which is eventually consistent (on PostgreSQL
    // with several shards a schedule created a moment ago is not listed yet): wait until it is.
    await waitFor(
      async () => {
        for await (const s of stack.temporal.schedule.list()) if (s.scheduleId === stale.scheduleId) return true;
        return false;
      },
      20_000,
      'the stale schedule listed',
    );
    const report = await stack.client.schedules.sync(catalog);
    expect(report.deleted).toContain(stale.scheduleId);
    const nightly = 'tideway.demo.nightly-echo';
    expect([...report.created, ...report.updated]).toContain(nightly);
    const d = await stack.temporal.schedule.getHandle(nightly).describe();
    expect(d.spec.calendars?.length ?? 0).toBeGreaterThan(0);
    expect(d.info.nextActionTimes[0]!.getUTCHours()).toBe(2);
    // A schedule Tideway did not create is left alone.
    await expect(stack.temporal.schedule.getHandle(foreignId).describe()).resolves.toBeDefined();
    await expect(stack.temporal.schedule.getHandle(stale.scheduleId).describe()).rejects.toThrow();
  } finally {
    await stack.temporal.schedule
      .getHandle(foreignId)
      .delete()
      .catch(() => undefined);
  }
});

test('list shows the cron and time zone of a catalog schedule; sync brings an out-of-date one up to date, keeping it paused', async () => {
  const nightly = catalog.schedules.find((s) => s.id === 'demo.nightly-echo')!;
  const handle = stack.temporal.schedule.getHandle(nightly.scheduleId);
  await handle.delete().catch(() => undefined);
  // As an older sync left it: another cron, paused, and a memo without cron or time zone (Temporal
  // cannot change a memo, so sync must replace the schedule to bring it up to date).
  const old = catalogScheduleOptions({ ...nightly, cron: '0 5 * * *', timezone: undefined });
  const { cron: _cron, timezone: _tz, ...oldMemo } = old.memo!.tideway as Record<string, unknown>;
  await stack.temporal.schedule.create({ ...old, memo: { tideway: oldMemo }, state: { paused: true, note: 'held by an operator' } });
  try {
    const report = await stack.client.schedules.sync(catalog);
    expect(report.updated).toContain(nightly.scheduleId);
    // Schedule listing is eventually consistent: the replacement shows after a moment.
    const row = await waitFor(
      async () => (await stack.client.schedules.list()).find((s) => s.scheduleId === nightly.scheduleId && s.cron.length > 0),
      15_000,
      'the replaced schedule, with its cron, in the list',
    );
    expect(row).toMatchObject({ taskType: 'demo.echo', cron: ['0 2 * * *'], timezone: 'UTC', paused: true, source: 'catalog' });
    const d = await handle.describe();
    expect(d.state).toMatchObject({ paused: true, note: 'held by an operator' });
    expect(d.spec.calendars?.[0]?.hour).toEqual([expect.objectContaining({ start: 2 })]);
    // An up-to-date schedule is updated in place, not replaced again.
    await stack.client.schedules.sync(catalog);
    expect((await handle.describe()).info.createdAt).toEqual(d.info.createdAt);
  } finally {
    // Leave it as the catalog wants it (running), as the sync test does.
    await handle.unpause().catch(() => undefined);
  }
});

test('schedule operations on an unknown ID are a typed not-found error', async () => {
  await expect(stack.client.schedules.pause('tideway.nope')).rejects.toMatchObject({ type: 'ScheduleNotFound' });
});
