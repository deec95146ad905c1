import { join } from 'node:path';
import { TaskClient } from '../../api/task-client';
import { catalog } from '../fixtures/projects/flow/catalog';
import { expectNoLeakedWorkers, readLedger, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';

/**
 * Singleton and idempotency modes on the real server (README "Flow control"): `onConflict` decides
 * what a submit does to an open task with its ID, `dedupeFor` how long a closed one keeps its ID.
 */
jest.setTimeout(180_000);

const CONFIG = join(__dirname, '..', 'fixtures', 'projects', 'flow', 'tideway.config.ts');
let stack: Stack;
let client: TaskClient<typeof catalog.tasks>;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, pools: [['flow', 'normal']] });
  client = new TaskClient({ client: stack.temporal, catalog, admission: { kind: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  expectNoLeakedWorkers();
});

const runsOf = (taskId: string) => readLedger(stack.ledger).filter((l) => l.taskId === taskId);
const statusOf = async (taskId: string, runId: string) => (await stack.temporal.workflow.getHandle(taskId, runId).describe()).status.name;

it('skip (the default): a second submit of an open ID returns the existing task and starts nothing', async () => {
  const id = uniqueId('skip');
  const first = await client.submit('flow.work', { ms: 3_000, v: 'first' }, { taskId: id });
  const second = await client.submit('flow.work', { ms: 0, v: 'second' }, { taskId: id, onConflict: 'skip' });
  expect(first.duplicate).toBe(false);
  expect(second).toMatchObject({ taskId: id, duplicate: true });
  expect(await client.result(id, 'flow.work')).toEqual({ v: 'first' });
  expect(runsOf(id)).toHaveLength(1);
});

it('cancel_running: cancels the running task (it ends cancelled) and starts the new one', async () => {
  const id = uniqueId('cancel');
  await client.submit('flow.work', { ms: 60_000, v: 'first' }, { taskId: id });
  await waitFor(() => runsOf(id).length === 1, 30_000, 'the first run to start');
  const firstRun = (await client.handle(id).describe()).runId;
  const second = await client.submit('flow.work', { ms: 0, v: 'second' }, { taskId: id, onConflict: 'cancel_running' });
  expect(second).toMatchObject({ taskId: id, duplicate: false, replaced: { runId: firstRun, how: 'cancelled' } });
  expect(await statusOf(id, firstRun)).toBe('CANCELLED');
  expect(await client.result(id, 'flow.work')).toEqual({ v: 'second' });
  expect(runsOf(id).map((l) => (l as unknown as { input: { v: string } }).input.v)).toEqual(['first', 'second']);
});

it('replace_queued (declared on the type, ID from singletonKey): replaces a task not started yet, skips a running one', async () => {
  const account = uniqueId('acct');
  // A delayed task has not started: the next submit for the account replaces it, input and all.
  const queued = await client.submit('flow.sync', { account, ms: 0, v: 'old' }, { delay: '1m' });
  expect(queued.taskId).toBe(`flow.sync:${account}`);
  expect(queued.status).toBe('scheduled');
  const queuedRun = (await client.handle(queued.taskId).describe()).runId;
  const replacing = await client.submit('flow.sync', { account, ms: 20_000, v: 'new' });
  expect(replacing).toMatchObject({ taskId: queued.taskId, duplicate: false, replaced: { runId: queuedRun, how: 'cancelled' } });
  expect(await statusOf(queued.taskId, queuedRun)).toBe('CANCELLED');

  // Now it runs: a further submit is skipped and the running task is left alone.
  await waitFor(() => runsOf(queued.taskId).length === 1, 30_000, 'the replacing run to start');
  const skipped = await client.submit('flow.sync', { account, ms: 0, v: 'late' });
  expect(skipped).toMatchObject({ taskId: queued.taskId, duplicate: true });
  expect(skipped.replaced).toBeUndefined();
  expect(await client.result(queued.taskId, 'flow.sync')).toEqual({ v: 'new' });
  expect(runsOf(queued.taskId).map((l) => (l as unknown as { input: { v: string } }).input.v)).toEqual(['new']);
});

it('dedupeFor: a succeeded ID is refused inside the window and runs again once it passed', async () => {
  const id = uniqueId('dedupe');
  await client.submit('flow.work', { ms: 0, v: 'one' }, { taskId: id, dedupeFor: '4s' });
  await client.result(id, 'flow.work');
  const closedAt = (await client.handle(id).describe()).closeTime!.getTime();
  const inside = await client.submit('flow.work', { ms: 0, v: 'two' }, { taskId: id, dedupeFor: '4s' });
  expect(Date.now()).toBeLessThan(closedAt + 4_000);
  expect(inside).toMatchObject({ taskId: id, duplicate: true, status: 'succeeded' });
  expect(runsOf(id)).toHaveLength(1);

  // Without dedupeFor a succeeded ID is never run again (the default "succeeds once").
  await new Promise((r) => setTimeout(r, Math.max(0, closedAt + 4_200 - Date.now())));
  expect((await client.submit('flow.work', { ms: 0, v: 'three' }, { taskId: id })).duplicate).toBe(true);
  const after = await client.submit('flow.work', { ms: 0, v: 'four' }, { taskId: id, dedupeFor: '4s' });
  expect(after).toMatchObject({ taskId: id, duplicate: false });
  expect(await client.result(id, 'flow.work')).toEqual({ v: 'four' });
  expect(runsOf(id)).toHaveLength(2);
});
