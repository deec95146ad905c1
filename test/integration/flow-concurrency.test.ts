import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TaskClient } from '../../api/task-client';
import { catalog } from '../fixtures/projects/flow-keys/catalog';
import { WithStartWorkflowOperation } from '@temporalio/client';
import {
  FLOW_LIMITER_WORKFLOW,
  acquirePermitUpdate,
  flowLimiterId,
  flowStateQuery,
  leasePermitsUpdate,
  permitAnswerSignal,
  releasePermitSignal,
} from '../../config/flow';
import { flowTaskQueue } from '../../config/names';
import { expectNoLeakedWorkers, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';

/**
 * Concurrency per key on the real server with real pool processes: two replicas of one pool serve
 * `flow.serial` (limit 2 per key). The handler writes a ledger line when an attempt starts and when
 * it ends, outside Temporal, so the test sees what really ran at once.
 */
jest.setTimeout(300_000);

const CONFIG = join(__dirname, '..', 'fixtures', 'projects', 'flow-keys', 'tideway.config.ts');
const app = catalog.withApp('flowtest');
let stack: Stack;
let client: TaskClient<typeof app extends { tasks: infer T } ? T : never>;

interface Line {
  taskId: string;
  key: string;
  phase: 'start' | 'end';
  attempt: number;
  pid: number;
  at: number;
}
interface Interval {
  taskId: string;
  key: string;
  attempt: number;
  pid: number;
  start: number;
  end: number;
}

function lines(): Line[] {
  if (!existsSync(stack.ledger)) return [];
  return readFileSync(stack.ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

/** Each attempt's run: from its start line to its end line, or to `deadAt` for a process killed mid-attempt. */
function intervals(ids: Set<string>, deadAt: Map<number, number> = new Map()): Interval[] {
  const all = lines().filter((l) => ids.has(l.taskId));
  const out: Interval[] = [];
  for (const s of all.filter((l) => l.phase === 'start')) {
    const e = all.find((l) => l.phase === 'end' && l.taskId === s.taskId && l.attempt === s.attempt && l.pid === s.pid);
    const end = e?.at ?? deadAt.get(s.pid);
    if (end === undefined) throw new Error(`attempt ${s.attempt} of ${s.taskId} has no end and its process was not killed`);
    out.push({ taskId: s.taskId, key: s.key, attempt: s.attempt, pid: s.pid, start: s.at, end });
  }
  return out;
}

/** Most intervals open at once (an interval ending at t does not overlap one starting at t). */
function peak(list: Interval[]): number {
  const events = list.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 },
  ]);
  events.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of events) {
    now += e.d;
    max = Math.max(max, now);
  }
  return max;
}

beforeAll(async () => {
  stack = await startStack({
    config: CONFIG,
    pools: [
      ['flow', 'normal'],
      ['flow', 'normal'],
    ],
  });
  client = new TaskClient({ client: stack.temporal, catalog: app, admission: { kind: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  expectNoLeakedWorkers();
});

it('3 keys × 20 tasks with limit 2 across 2 replicas: never more than 2 of a key at once, keys in parallel', async () => {
  const run = uniqueId('fc');
  const keys = ['acme', 'globex', 'initech'].map((k) => `${k}-${run}`);
  const ids: string[] = [];
  await Promise.all(
    keys.flatMap((key) =>
      Array.from({ length: 20 }, async (_, i) => {
        const id = `${key}-${i}`;
        ids.push(id);
        await client.submit('flow.serial', { key, ms: 400 }, { taskId: id });
      }),
    ),
  );
  // While they run, a waiting task says why (state.flow.waiting) and every task names its key.
  const waiting = await waitFor(
    async () => {
      for (const id of ids) {
        const s = await client.get(id);
        if (s.flow?.waiting) return s;
      }
      return undefined;
    },
    30_000,
    'a task waiting for its permit',
  );
  expect(waiting.flow?.waiting?.reason).toMatch(/^waiting for a concurrency permit: key \S+, 2\/2 running$/);
  await Promise.all(ids.map((id) => client.result(id, 'flow.serial')));
  const done = await Promise.all(ids.slice(0, 3).map((id) => client.get(id)));
  for (const s of done) expect(keys).toContain(s.flow?.concurrencyKey);

  const all = intervals(new Set(ids));
  expect(all).toHaveLength(60);
  for (const key of keys) expect(peak(all.filter((i) => i.key === key))).toBe(2);
  // The keys progress in parallel: more than 2 attempts (so more than one key) ran at once…
  expect(peak(all)).toBeGreaterThan(2);
  // …and both replicas took attempts.
  expect(new Set(all.map((i) => i.pid)).size).toBe(2);
});

/** Waits until some pool replica runs at least two attempts of `ids`, then SIGKILLs it. */
async function killBusyReplica(ids: string[]) {
  const pools = stack.workers.filter((w) => w.role.role === 'pool');
  const victim = await waitFor(
    () => {
      const open = lines().filter((l) => ids.includes(l.taskId) && l.phase === 'start');
      return pools.find((p) => open.filter((l) => l.pid === p.pid).length >= 2);
    },
    30_000,
    'a replica running attempts',
  );
  const heldByVictim = lines().filter((l) => ids.includes(l.taskId) && l.phase === 'start' && l.pid === victim.pid);
  const killedAt = Date.now();
  expect(await victim.kill()).toBe('SIGKILL');
  return { victim, heldByVictim, killedAt };
}

/**
 * Each attempt lost with the killed replica ran again on another one, once the heartbeat timeout
 * (3s) and the retry interval (1s) passed, with room for a loaded machine.
 */
function expectLostAttemptsRetried(all: Interval[], heldByVictim: Line[], victimPid: number, killedAt: number): void {
  for (const lost of heldByVictim.filter((l) => !lines().some((e) => e.phase === 'end' && e.taskId === l.taskId && e.pid === l.pid))) {
    const next = all.find((i) => i.taskId === lost.taskId && i.attempt > lost.attempt);
    expect(next).toBeDefined();
    expect(next!.pid).not.toBe(victimPid);
    expect(next!.start - killedAt).toBeLessThan(15_000);
  }
}

/** Updates a limiter accepted in its current run, by name. */
async function acceptedUpdates(limiterId: string, name: string): Promise<number> {
  const events = (await stack.temporal.workflow.getHandle(limiterId).fetchHistory()).events ?? [];
  return events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === name).length;
}

/** Runs two tasks of `key` so both replicas ask for a lease, then waits until the limiter shows one. */
async function warmLeases(key: string): Promise<string> {
  const limiterId = flowLimiterId('concurrency', 'flow.wide', key, 'flowtest');
  const warm = Array.from({ length: 4 }, (_, i) => `${key}-warm-${i}`);
  await Promise.all(warm.map((id) => client.submit('flow.wide', { key, ms: 300 }, { taskId: id })));
  await Promise.all(warm.map((id) => client.result(id, 'flow.wide')));
  await waitFor(
    async () => ((await stack.temporal.workflow.getHandle(limiterId).query(flowStateQuery)).leased ?? 0) > 0 || undefined,
    20_000,
    'a lease',
  );
  return limiterId;
}

it('limit 8 with leases: attempts take leased permits with no update each, never more than 8 of a key at once', async () => {
  const key = `wide-${uniqueId('fl')}`;
  const limiterId = await warmLeases(key);
  const ids = Array.from({ length: 40 }, (_, i) => `${key}-${i}`);
  await Promise.all(ids.map((id) => client.submit('flow.wide', { key, ms: 300 }, { taskId: id })));
  await Promise.all(ids.map((id) => client.result(id, 'flow.wide')));
  const all = intervals(new Set(ids));
  expect(all).toHaveLength(40);
  expect(peak(all)).toBeLessThanOrEqual(8);
  expect(peak(all)).toBeGreaterThan(2); // the limit, not a lease's share, bounds the key
  // Some attempts ran on a lease: fewer per-attempt updates than attempts (4 warm-up + 40).
  const perAttempt = await acceptedUpdates(limiterId, acquirePermitUpdate.name);
  expect(perAttempt).toBeLessThan(44 - 4);
  expect(await acceptedUpdates(limiterId, leasePermitsUpdate.name)).toBeGreaterThan(0);
});

it('a replica killed while holding a lease: its lease runs out, its attempts are retried after the heartbeat timeout, never over the limit', async () => {
  const key = `widek-${uniqueId('fl')}`;
  const limiterId = await warmLeases(key);
  const ids = Array.from({ length: 16 }, (_, i) => `${key}-${i}`);
  await Promise.all(ids.map((id) => client.submit('flow.wide', { key, ms: 3_000 }, { taskId: id })));
  const { victim, heldByVictim, killedAt } = await killBusyReplica(ids);
  await Promise.all(ids.map((id) => client.result(id, 'flow.wide')));
  const all = intervals(new Set(ids), new Map([[victim.pid, killedAt]]));
  expect(peak(all)).toBeLessThanOrEqual(8);
  for (const id of ids) expect(peak(all.filter((i) => i.taskId === id))).toBe(1);
  expectLostAttemptsRetried(all, heldByVictim, victim.pid, killedAt);
  // The dead process's lease ran out: the limiter holds nothing once all is done.
  await waitFor(
    async () => ((await stack.temporal.workflow.getHandle(limiterId).query(flowStateQuery)).running === 0 ? true : undefined),
    30_000,
    'leases gone',
  );
  await stack.spawn(victim.role); // two replicas again, for the tests below
});

it('a replica killed while holding permits: its attempts are retried after the heartbeat timeout, never twice at once, never over the limit', async () => {
  const run = uniqueId('fk');
  const keys = ['acme', 'globex', 'initech'].map((k) => `${k}-${run}`);
  const ids = keys.flatMap((key) => Array.from({ length: 4 }, (_, i) => `${key}-${i}`));
  await Promise.all(ids.map((id) => client.submit('flow.serial', { key: id.slice(0, id.lastIndexOf('-')), ms: 4_000 }, { taskId: id })));
  const { victim, heldByVictim, killedAt } = await killBusyReplica(ids);

  await Promise.all(ids.map((id) => client.result(id, 'flow.serial')));
  const all = intervals(new Set(ids), new Map([[victim.pid, killedAt]]));
  for (const key of keys) expect(peak(all.filter((i) => i.key === key))).toBeLessThanOrEqual(2);
  // Nothing ran twice at once: each task's attempts never overlap.
  for (const id of ids) expect(peak(all.filter((i) => i.taskId === id))).toBe(1);
  expectLostAttemptsRetried(all, heldByVictim, victim.pid, killedAt);
});

it("a task's newer request replaces its older queued one, so an attempt that died after asking leaves no permit behind", async () => {
  const key = `orphan-${uniqueId('fo')}`;
  const limiterId = flowLimiterId('concurrency', 'flow.serial', key, 'flowtest');
  const ask = (holder: string, seq: number) =>
    stack.temporal.workflow.executeUpdateWithStart(acquirePermitUpdate, {
      args: [{ holder, seq, priority: 2, limit: 1 }],
      startWorkflowOperation: new WithStartWorkflowOperation(FLOW_LIMITER_WORKFLOW, {
        workflowId: limiterId,
        taskQueue: flowTaskQueue('flowtest'),
        args: [{ kind: 'concurrency', type: 'flow.serial', key, limit: 1 }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
  expect((await ask(`${key}-a`, 1)).outcome).toBe('granted');
  expect((await ask(`${key}-w`, 1)).outcome).toBe('queued'); // its attempt dies here
  expect((await ask(`${key}-w`, 2)).outcome).toBe('queued'); // the retry asks again
  const limiter = stack.temporal.workflow.getHandle(limiterId);
  expect((await limiter.query(flowStateQuery)).waiting).toBe(1);
  await limiter.signal(releasePermitSignal, { holder: `${key}-a`, seq: 1 });
  await waitFor(async () => (await limiter.query(flowStateQuery)).holders.includes(`${key}-w`) || undefined, 10_000, 'the grant');
  // The retry's request holds the permit: its release frees the key.
  await limiter.signal(releasePermitSignal, { holder: `${key}-w`, seq: 2 });
  await waitFor(async () => ((await limiter.query(flowStateQuery)).running === 0 ? true : undefined), 10_000, 'the key free');
});

it('a free permit comes back in the update: the task gets no answer signal, the limiter runs on the flow queue', async () => {
  const key = `solo-${uniqueId('fc')}`;
  const id = `${key}-0`;
  await client.submit('flow.serial', { key, ms: 10 }, { taskId: id });
  await client.result(id, 'flow.serial');
  const events = (await stack.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
  const signals = events.flatMap((e) =>
    e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes.signalName] : [],
  );
  expect(signals).not.toContain(permitAnswerSignal.name);
  // The attempt took and released the permit itself: the task's workflow ran no local activity for
  // it and sent no signal-external command.
  expect(events.some((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)).toBe(false);
  expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(0);
  const limiter = stack.temporal.workflow.getHandle(flowLimiterId('concurrency', 'flow.serial', key, 'flowtest'));
  expect((await limiter.describe()).taskQueue).toBe(flowTaskQueue('flowtest'));
  const limiterEvents = (await limiter.fetchHistory()).events ?? [];
  expect(limiterEvents.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(1);
  expect(limiterEvents.some((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)).toBe(false);
  // The release reached it: nothing is held.
  await waitFor(async () => ((await limiter.query(flowStateQuery)).running === 0 ? true : undefined), 10_000, 'the permit released');
});
