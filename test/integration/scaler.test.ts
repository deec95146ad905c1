import { catalog } from '../../examples/demo/catalog';
import { CONTROL_TASK_QUEUE, RUN_TASK_WORKFLOW } from '../../config/names';
import { ProcessActuator } from '../../scaler/actuators/process';
import { compileScalerOptions, type ScalerOptions } from '../../scaler/options';
import { Scaler, type DecisionEvent, type ScaledEvent } from '../../scaler/scaler';
import { defaultSignals } from '../../scaler/signals';
import { describeQueueStats } from '../../scaler/signals/backlog';
import { DEMO_CONFIG, expectNoLeakedWorkers, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';

jest.setTimeout(150_000);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ pools: [] }); // the control worker only: the scaler starts the pools
});
afterAll(async () => {
  await stack.stop();
  expectNoLeakedWorkers();
});

/** A live scaler on the test server with the process actuator, and a record of what it did. */
function liveScaler(opts: ScalerOptions) {
  const options = compileScalerOptions(opts, catalog.pools);
  const actuator = new ProcessActuator({
    config: DEMO_CONFIG,
    address: stack.address,
    env: { TIDEWAY_LOG_LEVEL: 'warn', TIDEWAY_SHUTDOWN_GRACE_MS: '5000' },
    stopGraceMs: 10_000,
  });
  const scaler = new Scaler({ options, signals: defaultSignals(stack.temporal, catalog, options), actuator });
  const rounds: DecisionEvent[][] = [];
  const scaled: ScaledEvent[] = [];
  scaler.on('scaler:round', (r) => rounds.push([...r.decisions]));
  scaler.on('pool:scaled', (e) => scaled.push(e));
  const errors: Error[] = [];
  scaler.on('scaler:error', (e) => errors.push(e.error));
  /** One line per round, attached to failures so a red test says what the scaler saw. */
  const trace = () =>
    rounds
      .map((r) =>
        r
          .map(
            (d) =>
              `${new Date(d.at).toISOString().slice(11, 19)} ${d.decision.pool} backlog=${d.observation.backlog} add=${d.observation.addRate.toFixed(1)} inFlight=${d.observation.inFlight} ${d.decision.current}->${d.decision.target} (${d.decision.reason})`,
          )
          .join('; '),
      )
      .concat(errors.map((e) => `error: ${e.message}`))
      .join('\n');
  return { scaler, actuator, options, rounds, scaled, errors, trace };
}

/** Resolves with the first `pool:scaled` event matching `pred`. */
function scaledTo(scaler: Scaler, pred: (e: ScaledEvent) => boolean, timeoutMs: number): Promise<ScaledEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no matching pool:scaled event')), timeoutMs);
    const on = (e: ScaledEvent) => {
      if (!pred(e)) return;
      clearTimeout(t);
      scaler.off('pool:scaled', on);
      resolve(e);
    };
    scaler.on('pool:scaled', on);
  });
}

test('a burst of 300 demo.sleep tasks: zero -> max within two decisions, drains, back to zero after the window', async () => {
  const { scaler, actuator, options, rounds, scaled, trace } = liveScaler({
    interval: '5s', // not shorter than the server's ~5 s DescribeTaskQueue cache
    targetDrainTime: '5s',
    stabilizationWindow: '10s',
    idleAfter: '5s',
    meanDuration: '4s',
    pools: ['demo.normal'],
  });
  const pool = options.pools[0]!;
  expect(pool.maxReplicas).toBe(4);
  const timings: string[] = [];
  try {
    await burst();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${timings.join('\n')}\nscaler rounds:\n${trace()}`);
  } finally {
    await scaler.stop({ stopPools: true });
  }
  expect(await actuator.replicas(pool)).toBe(0);

  async function burst(): Promise<void> {
    // The burst lands while the pool has no replicas: every task queues on the pool's activity queue.
    const ids = Array.from({ length: 300 }, (_, i) => uniqueId(`burst-${i}`));
    const t0 = Date.now();
    await Promise.all(ids.map((taskId) => stack.client.submit('demo.sleep', { ms: 3_000 }, { taskId })));
    const submittedMs = Date.now() - t0;
    await waitFor(
      async () => (await describeQueueStats(stack.temporal, pool.taskQueue)).backlog >= ids.length,
      100_000,
      'the burst to queue',
    );
    timings.push(`submitted in ${submittedMs} ms, queued after ${Date.now() - t0} ms`);
    expect(await actuator.replicas(pool)).toBe(0);

    const upToMax = scaledTo(scaler, (e) => e.to === pool.maxReplicas, 2 * options.intervalMs + 30_000);
    scaler.start();
    await upToMax;
    expect(actuator.pids(pool)).toHaveLength(pool.maxReplicas);
    // Within two decision intervals of the scaler seeing the burst: its first or second round.
    const atMax = rounds.findIndex((r) => r[0]!.decision.target === pool.maxReplicas);
    expect(atMax).toBeGreaterThanOrEqual(0);
    expect(atMax).toBeLessThanOrEqual(1);
    expect(rounds[atMax]![0]!.decision.reason).toBe('scale-up');

    await Promise.all(ids.map((id) => stack.client.result(id)));
    // The server caches queue stats for ~5 s, so the drained backlog shows up within a few seconds.
    await waitFor(async () => (await describeQueueStats(stack.temporal, pool.taskQueue)).backlog === 0, 20_000, 'backlog stats to reach 0');

    await scaledTo(scaler, (e) => e.to === 0, 90_000);
    // No decision lowered the pool before one stabilization window after the last one that asked for max.
    const flat = rounds.map((r) => r[0]!);
    const lastMax = Math.max(...flat.filter((d) => d.decision.recommended >= pool.maxReplicas).map((d) => d.at));
    const firstDown = flat.find((d) => d.decision.target < d.decision.current)!;
    expect(firstDown.at - lastMax).toBeGreaterThanOrEqual(options.stabilizationMs);
    // Down in bounded steps (at most half per decision), never straight from max to zero.
    const downs = scaled.filter((e) => e.to < e.from);
    for (const d of downs) expect(d.from - d.to).toBeLessThanOrEqual(Math.max(1, Math.floor(d.from * options.scaleDownMaxFraction)));
    expect(downs.length).toBeGreaterThan(1);
  }
});

test('a Temporal Schedule firing in ~40 s with a 20 s lead: replicas are up before the fire', async () => {
  const scheduleId = uniqueId('scaler-fire');
  const fireAt = Math.ceil((Date.now() + 40_000) / 1_000) * 1_000;
  await stack.temporal.schedule.create({
    scheduleId,
    // Once an hour at the fire's second of the hour: the next fire is exactly `fireAt`.
    spec: { intervals: [{ every: '1h', offset: fireAt % 3_600_000 }] },
    action: {
      type: 'startWorkflow',
      workflowType: RUN_TASK_WORKFLOW,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ type: 'demo.echo', input: { from: 'schedule' }, lane: 'high' }],
    },
    memo: { tideway: { taskType: 'demo.echo', group: 'demo', lane: 'high', expectedTasks: 50 } },
  });
  const { scaler, actuator, options, rounds, trace } = liveScaler({
    interval: '5s',
    stabilizationWindow: '10s',
    idleAfter: '5s',
    pools: ['demo.high'],
    poolOverrides: { 'demo.high': { startupSeconds: 15 } }, // lead = 15 s start-up + 5 s interval = 20 s
  });
  const pool = options.pools[0]!;
  try {
    const up = scaledTo(scaler, (e) => e.to > 0, 60_000);
    scaler.start();
    const e = await up;
    expect(Date.now()).toBeLessThan(fireAt);
    expect(await actuator.replicas(pool)).toBeGreaterThan(0);
    const decided = rounds.map((r) => r[0]!).find((d) => d.decision.target > 0)!;
    expect(decided.decision.reason).toBe('prewarm');
    expect(decided.decision.leadMs).toBe(20_000);
    expect(fireAt - decided.at).toBeLessThanOrEqual(20_000);
    expect(decided.observation.fires[0]).toMatchObject({ at: fireAt, scheduleId, source: 'server', expectedTasks: 50 });
    // Before the lead the pool stayed at zero: the forecast, not a whim, started it.
    expect(rounds[0]![0]!.decision.target).toBe(0);
    expect(e.reason).toBe('prewarm');
    // The fire runs a task on the pre-warmed pool.
    await waitFor(
      async () => (await stack.temporal.schedule.getHandle(scheduleId).describe()).info.recentActions.length > 0,
      30_000,
      'the schedule to fire',
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nscaler rounds:\n${trace()}`);
  } finally {
    await stack.temporal.schedule.getHandle(scheduleId).delete();
    await scaler.stop({ stopPools: true });
  }
  expect(await actuator.replicas(pool)).toBe(0);
});
