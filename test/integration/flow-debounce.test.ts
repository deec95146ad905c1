import { join } from 'node:path';
import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { debounceWorkflowId } from '../../config/names';
import { catalog } from '../fixtures/projects/flow/catalog';
import { expectNoLeakedWorkers, readLedger, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';
import { listen } from './api-helpers';

/**
 * Debounce on the real server (README "Flow control"): a burst of submits with one key becomes one
 * run of the last input (or all inputs with `collect`) after `period` of quiet (3 s here), and a
 * stream that never goes quiet still runs by `maxWait` (10 s here, set per submit).
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

interface FlowLine {
  taskId: string;
  type: string;
  at: number;
  input: unknown;
}
const ledger = (): FlowLine[] => readLedger(stack.ledger) as unknown as FlowLine[];

it('turns 50 submits in 10 s into one run of the last input, started after 3 s of quiet', async () => {
  const user = uniqueId('u');
  const ids = new Set<string>();
  let lastSubmitAt = 0;
  const burstStart = Date.now();
  for (let n = 1; n <= 50; n++) {
    const r = await client.submit('flow.notify', { user, n });
    expect(r.status).toBe('debouncing');
    expect(r.debounce?.key).toBe(user);
    ids.add(r.taskId);
    lastSubmitAt = Date.now();
    // 50 submits paced over 10 s (each gap well under the 3 s period; the type's maxWait is 30 s): one window.
    await new Promise((res) => setTimeout(res, Math.max(0, burstStart + n * 200 - Date.now())));
  }
  expect(ids.size).toBe(1);
  const [taskId] = [...ids] as [string];

  // While the window is open, `get` says why the task waits.
  const waiting = await client.get(taskId);
  expect(waiting.status).toBe('debouncing');
  expect(waiting.debounce).toMatchObject({ key: user, submits: 50 });
  expect(waiting.waiting).toMatch(/^debouncing: 50 submit\(s\), starts in \d+ s or by .* at the latest$/);

  const out = await client.result(taskId, 'flow.notify');
  expect(out).toEqual({ user, n: 50 });
  const runs = ledger().filter((l) => (l.input as { user?: string }).user === user);
  expect(runs).toHaveLength(1);
  expect(runs[0]!.taskId).toBe(taskId);
  // Started after the period of quiet (3 s; the dev server's timers round up to whole seconds).
  expect(runs[0]!.at - lastSubmitAt).toBeGreaterThanOrEqual(2_900);
  expect(runs[0]!.at - lastSubmitAt).toBeLessThan(10_000);
  // The collector closed: nothing waits under the key any more.
  await waitFor(
    async () =>
      (await stack.temporal.workflow.getHandle(debounceWorkflowId('default', 'flow.notify', user)).describe()).status.name === 'COMPLETED',
    20_000,
    'the collector to close',
  );
});

it('runs a stream that never goes quiet by maxWait (10 s), then opens a new window for the rest', async () => {
  const user = uniqueId('s');
  const started = Date.now();
  const ids: string[] = [];
  const at: number[] = [];
  // A submit every second for 16 s: never 3 s of quiet.
  for (let n = 1; n <= 16; n++) {
    // The submit's own debounce settings override the type's (maxWait 30 s there).
    const r = await client.submit('flow.notify', { user, n }, { debounce: { key: user, period: '3s', maxWait: '10s' } });
    ids.push(r.taskId);
    at.push(Date.now());
    await new Promise((res) => setTimeout(res, Math.max(0, started + n * 1_000 - Date.now())));
  }
  // The premise: no gap between submits came near the 3 s period (a loaded machine could break it).
  expect(Math.max(...at.slice(1).map((t, i) => t - at[i]!))).toBeLessThan(2_500);
  const first = ids[0]!;
  const out = await client.result(first, 'flow.notify');
  const firstRun = ledger().find((l) => l.taskId === first)!;
  // By maxWait from the first submit (10 s; more only by the server's whole-second timers and dispatch).
  expect(firstRun.at - started).toBeGreaterThanOrEqual(9_500);
  expect(firstRun.at - started).toBeLessThan(20_000);
  // The window closed before the stream ended, and ran with the last input it had taken.
  const inFirst = ids.filter((id) => id === first).length;
  expect(inFirst).toBeLessThan(16);
  expect(out).toEqual({ user, n: inFirst });
  // Later submits went to later windows; the last one ran with the stream's last input.
  expect(new Set(ids.slice(inFirst)).has(first)).toBe(false);
  expect(await client.result(ids[ids.length - 1]!, 'flow.notify')).toEqual({ user, n: 16 });
  // Every submit belongs to exactly one run: the first window's and the next ones' (no submit lost).
  const runsNow = ledger().filter((l) => (l.input as { user?: string }).user === user);
  expect(new Set(runsNow.map((l) => l.taskId))).toEqual(new Set(ids));
  expect(runsNow).toHaveLength(new Set(ids).size);
});

it('hands every input of the window to the run with collect: true', async () => {
  const user = uniqueId('c');
  let taskId = '';
  for (let n = 1; n <= 5; n++) taskId = (await client.submit('flow.digest', { user, n })).taskId;
  const out = await client.result(taskId, 'flow.digest');
  expect(out).toEqual({ count: 5 });
  const run = ledger().find((l) => l.taskId === taskId)!;
  expect(run.input).toEqual([1, 2, 3, 4, 5].map((n) => ({ user, n })));
});

it('shows a debounced task over HTTP: its key and why it waits, then its run', async () => {
  const key = 'key-default-12345';
  const api = await buildApiServer({ client, keys: new ApiKeyStore().add('default', key), backpressure: false });
  try {
    const { call } = await listen(api);
    const user = uniqueId('h');
    let taskId = '';
    for (let n = 1; n <= 3; n++) {
      const r = await call('POST', '/v1/tasks', { key, json: { type: 'flow.notify', input: { user, n } } });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ status: 'debouncing', debounce: { key: user, submits: n } });
      taskId = (r.body as { taskId: string }).taskId;
    }
    const got = await call('GET', `/v1/tasks/${encodeURIComponent(taskId)}`, { key });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ taskId, status: 'debouncing', debounce: { key: user, submits: 3 } });
    expect((got.body as { waiting: string }).waiting).toMatch(
      /^debouncing: 3 submit\(s\), starts in \d+ s or by \d\d:\d\d:\d\d UTC at the latest$/,
    );
    // Another tenant cannot see the window.
    const other = await buildApiServer({ client, keys: new ApiKeyStore().add('other', 'key-other-12345'), backpressure: false });
    try {
      const o = await listen(other);
      expect((await o.call('GET', `/v1/tasks/${encodeURIComponent(taskId)}`, { key: 'key-other-12345' })).status).toBe(404);
    } finally {
      await other.close();
    }
    // A per-submit window for a type with no debounce of its own, by the submit's key, period and maxWait.
    const w = await call('POST', '/v1/tasks', {
      key,
      json: { type: 'flow.work', input: { ms: 0 }, debounce: { key: user, period: '1s', maxWait: '5s' } },
    });
    expect(w.body).toMatchObject({ status: 'debouncing' });
    await waitFor(
      async () => (await call('GET', `/v1/tasks/${encodeURIComponent(taskId)}`, { key })).body?.status === 'succeeded',
      30_000,
      'the run',
    );
    expect(await client.result((w.body as { taskId: string }).taskId, 'flow.work')).toEqual({ v: null });
  } finally {
    await api.close();
  }
});
