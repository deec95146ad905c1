import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskNotFoundError } from '../../api/errors';
import { bulkChunkWorkflowId } from '../../config/names';
import { expectNoLeakedWorkers, readLedger, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';
import { listen, type Caller } from './api-helpers';

/**
 * Durable bulk intake on the real server with real worker processes: a 2,000-task bulk over HTTP in
 * one call, tasks visible as `accepted` before they start, cancellation, and a control worker killed
 * mid-intake (no task lost, none run twice, by the demo handlers' ledger).
 */

jest.setTimeout(240_000);

const KEYS = { acme: 'acme-bulk-key-01', globex: 'globex-bulk-key-2' };
const keys = ApiKeyStore.parse(`acme=${KEYS.acme},globex=${KEYS.globex}`);

let stack: Stack;
let api: ApiServer;
let call: Caller;

beforeAll(async () => {
  // The control worker paces low-lane starts at 100/s here, so an intake lasts long enough to watch,
  // cancel and kill it (the fixed budget: this test is about intake, not adaptive admission).
  stack = await startStack({ env: { TIDEWAY_ADMISSION: 'low=100/s,burst=1' } });
  api = await buildApiServer({ client: stack.client, keys, backpressure: false });
  ({ call } = await listen(api));
}, 120_000);

afterAll(async () => {
  await api?.close();
  await stack?.stop();
  expectNoLeakedWorkers();
}, 60_000);

/**
 * Handler runs per task ID of a bulk, from the ledger: how many runs had an attempt number that an
 * earlier run of the same ID already had (a second start of a task would repeat attempt 1).
 */
function runsOf(prefix: string): Map<string, number> {
  const attempts = new Map<string, number[]>();
  for (const e of readLedger(stack.ledger)) {
    if (e.taskId.startsWith(prefix)) attempts.set(e.taskId, [...(attempts.get(e.taskId) ?? []), e.attempt]);
  }
  return new Map([...attempts].map(([id, a]) => [id, a.length - new Set(a).size + 1]));
}

it('accepts a 2,000-task low-lane bulk over HTTP (NDJSON) in one call; every task completes once', async () => {
  const bulkId = uniqueId('bulk-http');
  const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ type: 'demo.echo', input: { i }, lane: 'low' }));
  // Three bad items among them: each gets its own error, none sinks the rest.
  lines.splice(10, 0, JSON.stringify({ type: 'demo.nope', input: {} }));
  lines.splice(20, 0, '{not json');
  lines.splice(30, 0, JSON.stringify({ type: 'demo.echo', input: {}, lane: 'sideways' }));
  const t0 = Date.now();
  const res = await call('POST', '/v1/tasks:bulk', {
    key: KEYS.acme,
    headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': bulkId },
    raw: lines.join('\n'),
  });
  const acceptMs = Date.now() - t0;
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ bulkId, accepted: 2000, rejected: 3 });
  expect(res.body.errors.map((e: { index: number }) => e.index)).toEqual([10, 20, 30]);
  expect(res.body.errors[0].error.type).toBe('UnknownTaskTypeError');
  expect(res.body.errors[1].error).toMatchObject({ type: 'MalformedJson' });
  expect(res.body.errors[2].error.details.issues[0].path).toBe('tasks.30.lane');
  expect(res.body.taskIds[10]).toBeNull();
  expect(acceptMs).toBeLessThan(20_000);

  // A retry of the same bulk (same ID, same items) accepts nothing twice.
  const again = await call('POST', '/v1/tasks:bulk', {
    key: KEYS.acme,
    headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': bulkId },
    raw: lines.join('\n'),
  });
  expect(again.status).toBe(202);

  // Another tenant neither sees the bulk nor may reuse its ID.
  expect((await call('GET', `/v1/bulk/${bulkId}`, { key: KEYS.globex })).status).toBe(404);
  const stolen = await call('POST', '/v1/tasks:bulk', { key: KEYS.globex, json: { bulkId, tasks: [{ type: 'demo.echo', input: {} }] } });
  expect(stolen.status).toBe(409);

  const done = await waitFor(async () => {
    const s = await call('GET', `/v1/bulk/${bulkId}`, { key: KEYS.acme });
    return s.body.state === 'completed' ? s.body : undefined;
  }, 180_000);
  expect(done).toMatchObject({ accepted: 2000, started: 2000, duplicate: 0, failed: 0, cancelled: 0, pending: 0 });
  await waitFor(
    async () => (await stack.temporal.workflow.count(`BulkId = '${bulkId}' AND TaskStatus = 'succeeded'`)).count === 2000,
    120_000,
  );
  const runs = runsOf(`${bulkId}-`);
  expect(runs.size).toBe(2000);
  expect([...runs.values()].every((n) => n === 1)).toBe(true);
  const one = await call('GET', `/v1/tasks/${res.body.taskIds[0]}`, { key: KEYS.acme });
  expect(one.body).toMatchObject({ status: 'succeeded', lane: 'low', tenant: 'acme' });
});

it('shows accepted-but-not-started tasks, counts duplicates, and cancels a bulk', async () => {
  const existing = uniqueId('bulk-dup');
  await stack.client.submit('demo.sleep', { ms: 60_000 }, { taskId: existing, tenant: 'acme' });
  const bulkId = uniqueId('bulk-cancel');
  // Item 998 has an ID of the caller's own, which names no bulk: `get` finds it through visibility.
  const own = uniqueId('bulk-own');
  const items = [
    { type: 'demo.echo' as const, input: {}, lane: 'low' as const, taskId: existing },
    ...Array.from({ length: 999 }, (_, i) => ({
      type: 'demo.echo' as const,
      input: { i },
      lane: 'low' as const,
      ...(i === 997 ? { taskId: own } : {}),
    })),
  ];
  const r = await stack.client.submitMany(items, { bulkId, tenant: 'acme' });
  expect(r.accepted).toBe(1000);
  expect(r.taskIds[998]).toBe(own);
  // Two chunks of 500 share the budget; the second chunk's last task waits longest.
  const last = r.taskIds[999]!;
  // At 100/s the last task is still waiting in its chunk: `get` says accepted, with its bulk, right
  // after the bulk was accepted (its derived ID leads to the chunks by workflow ID, not visibility).
  const state = await stack.client.get(last);
  expect(state).toMatchObject({ taskId: last, status: 'accepted', bulkId, lane: 'low', tenant: 'acme', type: 'demo.echo' });
  expect(await stack.client.get(own)).toMatchObject({ taskId: own, status: 'accepted', bulkId });
  const viaHttp = await call('GET', `/v1/tasks/${last}`, { key: KEYS.acme });
  expect(viaHttp.body).toMatchObject({ status: 'accepted', bulkId });
  expect((await call('GET', `/v1/tasks/${last}`, { key: KEYS.globex })).status).toBe(404);

  await waitFor(async () => (await stack.client.bulkStatus(bulkId)).started >= 40, 30_000);
  const cancelled = await call('POST', `/v1/bulk/${bulkId}:cancel`, { key: KEYS.acme });
  expect(cancelled.status).toBe(202);
  const s = await waitFor(async () => {
    const b = await stack.client.bulkStatus(bulkId);
    return b.state !== 'running' ? b : undefined;
  }, 30_000);
  expect(s.state).toBe('cancelled');
  expect(s.duplicate).toBe(1);
  expect(s.cancelled).toBeGreaterThan(0);
  expect(s.started + s.duplicate + s.cancelled + s.failed).toBe(1000);
  // The last task never starts.
  await new Promise((res) => setTimeout(res, 2000));
  await expect(stack.client.get(last)).rejects.toBeInstanceOf(TaskNotFoundError);
  await stack.client.cancel(existing);
});

it('loses no task and starts none twice when the control worker is killed mid-intake', async () => {
  const bulkId = uniqueId('bulk-kill');
  const items = Array.from({ length: 600 }, (_, i) => ({ type: 'demo.echo' as const, input: { i }, lane: 'low' as const }));
  const r = await stack.client.submitMany(items, { bulkId, tenant: 'acme' });
  expect(r.accepted).toBe(600);
  await waitFor(async () => (await stack.client.bulkStatus(bulkId)).started >= 100, 30_000);
  const control = stack.workers.find((w) => w.role.role === 'control')!;
  await control.kill();
  await new Promise((res) => setTimeout(res, 1500));
  await stack.spawn({ role: 'control' });
  const s = await waitFor(async () => {
    const b = await stack.client.bulkStatus(bulkId);
    return b.state === 'completed' ? b : undefined;
  }, 120_000);
  expect(s).toMatchObject({ accepted: 600, started: 600, duplicate: 0, failed: 0, cancelled: 0 });
  await waitFor(
    async () => (await stack.temporal.workflow.count(`BulkId = '${bulkId}' AND TaskStatus = 'succeeded'`)).count === 600,
    120_000,
  );
  const runs = runsOf(`${bulkId}-`);
  expect(runs.size).toBe(600);
  expect([...runs.values()].filter((n) => n !== 1)).toEqual([]);
  // One run per task ID in Temporal too (a second start would be a second run).
  const all = await stack.temporal.workflow.count(`BulkId = '${bulkId}' AND WorkflowType = 'runTask'`);
  expect(all.count).toBe(600);
  expect(bulkChunkWorkflowId(bulkId, 0)).toBe(`${bulkId}~0`);
});
