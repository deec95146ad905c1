import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { HttpTaskClient } from '../../api/http-client';
import { TaskClient } from '../../api/task-client';
import { parseAdmission } from '../../config/admission';
import { catalog } from '../../examples/demo/catalog';
import { poolTaskQueue } from '../../config/names';
import { expectNoLeakedWorkers, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';
import { listen, type Caller } from './api-helpers';

/**
 * The HTTP API against the real dev server and real worker processes: every route, tenant
 * isolation, idempotency, batches, schedules, pools, and backpressure with two tenants.
 */

jest.setTimeout(90_000);

const KEYS = {
  acme: 'acme-key-0001',
  globex: 'globex-key-0002',
  batcher: 'batcher-key-03',
  flood: 'flood-key-0004',
  quiet: 'quiet-key-0005',
  quota: 'quota-key-0006',
};
const keys = ApiKeyStore.parse(
  Object.entries(KEYS)
    .map(([t, k]) => `${t}=${k}`)
    .join(','),
);

let stack: Stack;
let api: ApiServer;
let call: Caller;
let url: string;

beforeAll(async () => {
  stack = await startStack();
  api = await buildApiServer({ client: stack.client, keys, backpressure: false });
  ({ call, url } = await listen(api));
}, 90_000);

afterAll(async () => {
  await api?.close();
  await stack?.stop();
  expectNoLeakedWorkers();
}, 60_000);

const sig = async (taskId: string) => {
  const h = await stack.temporal.workflow.getHandle(taskId).fetchHistory();
  return (h.events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes?.signalName).filter(Boolean);
};

describe('tasks', () => {
  it('submits (201), dedupes by body taskId and by Idempotency-Key (200 duplicate), and runs once', async () => {
    const id = uniqueId('api-sub');
    const first = await call('POST', '/v1/tasks', { key: KEYS.acme, json: { type: 'demo.echo', input: { n: 1 }, taskId: id } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ taskId: id, status: 'queued' });
    const again = await call('POST', '/v1/tasks', { key: KEYS.acme, json: { type: 'demo.echo', input: { n: 1 }, taskId: id } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ taskId: id, duplicate: true });

    const key = uniqueId('api-idem');
    const a = await call('POST', '/v1/tasks', {
      key: KEYS.acme,
      headers: { 'idempotency-key': key },
      json: { type: 'demo.echo', input: 'x' },
    });
    const b = await call('POST', '/v1/tasks', {
      key: KEYS.acme,
      headers: { 'idempotency-key': key },
      json: { type: 'demo.echo', input: 'x' },
    });
    expect([a.status, b.status]).toEqual([201, 200]);
    expect(b.body.taskId).toBe(key);

    const http = new HttpTaskClient({ url, apiKey: KEYS.acme });
    expect(await http.result(id, undefined, 100)).toEqual({ n: 1 });
    const state = await call('GET', `/v1/tasks/${id}`, { key: KEYS.acme });
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ taskId: id, status: 'succeeded', tenant: 'acme', result: { n: 1 } });
    expect(stack.ledgerFor(id)).toHaveLength(1);
  });

  it('isolates tenants: another tenant gets 404 on get/cancel, never sees the task in lists, and cannot reuse the ID', async () => {
    const id = uniqueId('api-iso');
    expect(
      (await call('POST', '/v1/tasks', { key: KEYS.acme, json: { type: 'demo.sleep', input: { ms: 60_000 }, taskId: id } })).status,
    ).toBe(201);
    const got = await call('GET', `/v1/tasks/${id}`, { key: KEYS.globex });
    expect(got.status).toBe(404);
    expect(got.body.error.type).toBe('TaskNotFound');
    expect((await call('POST', `/v1/tasks/${id}:cancel`, { key: KEYS.globex })).status).toBe(404);
    expect((await call('POST', `/v1/tasks/${id}:pause`, { key: KEYS.globex })).status).toBe(404);
    const steal = await call('POST', '/v1/tasks', { key: KEYS.globex, json: { type: 'demo.echo', input: {}, taskId: id } });
    expect(steal.status).toBe(409);
    await waitFor(
      async () =>
        (await call('GET', '/v1/tasks?type=demo.sleep', { key: KEYS.acme })).body.tasks.some((t: { taskId: string }) => t.taskId === id),
      20_000,
      'acme lists its task',
    );
    const theirs = await call('GET', '/v1/tasks?type=demo.sleep', { key: KEYS.globex });
    expect(theirs.status).toBe(200);
    expect(theirs.body.tasks.every((t: { tenant: string }) => t.tenant === 'globex')).toBe(true);
    expect(theirs.body.tasks.some((t: { taskId: string }) => t.taskId === id)).toBe(false);
    // The owner can cancel; a second cancel is a state conflict.
    expect((await call('POST', `/v1/tasks/${id}:cancel`, { key: KEYS.acme })).status).toBe(202);
    await waitFor(async () => (await stack.client.describe(id)).executionStatus !== 'RUNNING', 20_000, 'cancelled');
    const twice = await call('POST', `/v1/tasks/${id}:cancel`, { key: KEYS.acme });
    expect(twice.status).toBe(409);
    expect(twice.body.error.type).toBe('TaskConflict');
  });

  it('lists with filters and paging', async () => {
    const tag = uniqueId('page');
    for (let i = 0; i < 3; i++) {
      expect(
        (await call('POST', '/v1/tasks', { key: KEYS.acme, json: { type: 'demo.echo', input: i, taskId: `${tag}-${i}`, lane: 'high' } }))
          .status,
      ).toBe(201);
    }
    await waitFor(
      async () =>
        (await call('GET', '/v1/tasks?lane=high&type=demo.echo', { key: KEYS.acme })).body.tasks.filter((t: { taskId: string }) =>
          t.taskId.startsWith(tag),
        ).length === 3,
      20_000,
      'listed',
    );
    const p1 = await call('GET', '/v1/tasks?lane=high&pageSize=1', { key: KEYS.acme });
    expect(p1.body.tasks).toHaveLength(1);
    expect(typeof p1.body.nextPageToken).toBe('string');
    const p2 = await call('GET', `/v1/tasks?lane=high&pageSize=1&pageToken=${p1.body.nextPageToken}`, { key: KEYS.acme });
    expect(p2.status).toBe(200);
    expect(p2.body.tasks[0].taskId).not.toBe(p1.body.tasks[0].taskId);
    expect((await call('GET', '/v1/tasks?status=bogus', { key: KEYS.acme })).status).toBe(400);
  });

  it('pause/resume send the operator signals; redrive/discard of a live task is 409', async () => {
    const id = uniqueId('api-op');
    await call('POST', '/v1/tasks', { key: KEYS.acme, json: { type: 'demo.sleep', input: { ms: 60_000 }, taskId: id } });
    expect((await call('POST', `/v1/tasks/${id}:pause`, { key: KEYS.acme })).status).toBe(202);
    await waitFor(async () => (await sig(id)).includes('pause'), 10_000, 'pause signal in history');
    // Held by an operator (`state.paused`), also while a running attempt finishes: resume is allowed once.
    await waitFor(async () => (await stack.client.get(id)).paused, 10_000, 'state.paused');
    expect((await call('POST', `/v1/tasks/${id}:resume`, { key: KEYS.acme })).status).toBe(202);
    await waitFor(async () => !(await stack.client.get(id)).paused, 10_000, 'resumed');
    expect((await call('POST', `/v1/tasks/${id}:resume`, { key: KEYS.acme })).status).toBe(409);
    const redrive = await call('POST', `/v1/tasks/${id}:redrive`, { key: KEYS.acme, json: { lane: 'high' } });
    expect(redrive.status).toBe(409);
    expect((await call('POST', `/v1/tasks/${id}:discard`, { key: KEYS.acme })).status).toBe(409);
    await call('POST', `/v1/tasks/${id}:cancel`, { key: KEYS.acme });
  });

  it('bulk: accepted durably in one call, per-item errors, one bad item sinks nothing else', async () => {
    const tag = uniqueId('bulk');
    const tasks: Record<string, unknown>[] = Array.from({ length: 10 }, (_, i) =>
      i === 3 ? { type: 'demo.sleep', input: { ms: 'soon' } } : { type: 'demo.echo', input: { i }, taskId: `${tag}-${i}` },
    );
    tasks.push({ type: 'demo.echo', input: { i: 0 }, taskId: `${tag}-0` });
    // A per-submit mode the intake cannot honour is refused, not dropped.
    tasks.push({ type: 'demo.echo', input: { i: 11 }, onConflict: 'cancel_running' });
    const r = await call('POST', '/v1/tasks:bulk', { key: KEYS.acme, json: { tasks } });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(9);
    expect(r.body.rejected).toBe(3);
    expect(r.body.errors[0]).toMatchObject({ index: 3, httpStatus: 400 });
    expect(r.body.errors[0].error.details.issues[0].path).toBe('tasks.3.input.ms');
    // The last item repeats item 0's ID: refused at once, item 0 runs.
    expect(r.body.errors[1]).toMatchObject({ index: 10, httpStatus: 409, error: { type: 'TaskConflict' } });
    expect(r.body.errors[2]).toMatchObject({ index: 11, httpStatus: 400 });
    expect(r.body.errors[2].error.details.issues[0].path).toBe('tasks.11.onConflict');
    expect(r.body.errors[2].error.details.issues[0].message).toMatch(/not supported in a bulk item/);
    expect(r.body.taskIds[0]).toBe(`${tag}-0`);
    expect(r.body.taskIds[3]).toBeNull();
    await waitFor(async () => (await stack.client.describe(`${tag}-9`)).status === 'succeeded', 20_000, 'bulk task ran');
    const status = await waitFor(async () => {
      const b = await call('GET', `/v1/bulk/${r.body.bulkId}`, { key: KEYS.acme });
      return b.body.state === 'completed' ? b.body : undefined;
    }, 20_000);
    expect(status).toMatchObject({ accepted: 9, started: 9, pending: 0 });
  });
});

describe('batches', () => {
  it("cancels all of a tenant's matching tasks and reports progress; other tenants cannot see the batch", async () => {
    const ids = Array.from({ length: 3 }, () => uniqueId('batch'));
    for (const id of ids)
      await call('POST', '/v1/tasks', { key: KEYS.batcher, json: { type: 'demo.sleep', input: { ms: 120_000 }, taskId: id } });
    // A task of another tenant with the same filter must survive the batch.
    const other = uniqueId('batch-other');
    await call('POST', '/v1/tasks', { key: KEYS.globex, json: { type: 'demo.sleep', input: { ms: 120_000 }, taskId: other } });
    await waitFor(async () => (await stack.client.count({ tenant: 'batcher', type: 'demo.sleep' })) >= 3, 20_000, 'visible');
    const start = await call('POST', '/v1/batches', { key: KEYS.batcher, json: { operation: 'cancel', filter: { type: 'demo.sleep' } } });
    expect(start.status).toBe(202);
    expect(start.body.query).toContain('TenantId="batcher"');
    const batchId = start.body.batchId as string;
    const done = await waitFor(
      async () => {
        const r = await call('GET', `/v1/batches/${batchId}`, { key: KEYS.batcher });
        return r.body.state === 'completed' ? r.body : undefined;
      },
      30_000,
      'batch completed',
    );
    expect(done).toMatchObject({ total: 3, completed: 3, failed: 0 });
    for (const id of ids)
      await waitFor(async () => (await stack.client.describe(id)).executionStatus !== 'RUNNING', 20_000, `cancelled ${id}`);
    expect((await stack.client.describe(other)).executionStatus).toBe('RUNNING');
    expect((await call('GET', `/v1/batches/${batchId}`, { key: KEYS.globex })).status).toBe(404);
    expect((await call('POST', '/v1/batches', { key: KEYS.batcher, json: { operation: 'explode' } })).status).toBe(400);
    await call('POST', `/v1/tasks/${other}:cancel`, { key: KEYS.globex });
  });
});

describe('schedules', () => {
  it('creates, lists with next fires, pauses, resumes, triggers and deletes — tenant-scoped', async () => {
    const id = `nightly-${Date.now().toString(36)}`;
    const bad = await call('POST', '/v1/schedules', { key: KEYS.acme, json: { id, cron: '0 25 * * *', type: 'demo.echo', input: {} } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('cron');
    const created = await call('POST', '/v1/schedules', {
      key: KEYS.acme,
      json: { id, cron: '0 3 * * *', type: 'demo.echo', input: { from: 'cron' } },
    });
    expect(created.status).toBe(201);
    expect(created.body.nextFires.length).toBeGreaterThan(0);
    expect(new Date(created.body.nextFires[0]).getUTCHours()).toBe(3);
    expect((await call('POST', '/v1/schedules', { key: KEYS.acme, json: { id, cron: '0 3 * * *', type: 'demo.echo' } })).status).toBe(409);
    await waitFor(
      async () => (await call('GET', '/v1/schedules', { key: KEYS.acme })).body.schedules.some((s: { id: string }) => s.id === id),
      20_000,
      'listed',
    );
    expect((await call('GET', '/v1/schedules', { key: KEYS.globex })).body.schedules.some((s: { id: string }) => s.id === id)).toBe(false);
    expect((await call('GET', `/v1/schedules/${id}`, { key: KEYS.globex })).status).toBe(404);
    expect((await call('DELETE', `/v1/schedules/${id}`, { key: KEYS.globex })).status).toBe(404);

    expect((await call('POST', `/v1/schedules/${id}:pause`, { key: KEYS.acme })).status).toBe(202);
    expect((await call('GET', `/v1/schedules/${id}`, { key: KEYS.acme })).body.paused).toBe(true);
    expect((await call('POST', `/v1/schedules/${id}:resume`, { key: KEYS.acme })).status).toBe(202);
    expect((await call('GET', `/v1/schedules/${id}`, { key: KEYS.acme })).body.paused).toBe(false);
    expect((await call('POST', `/v1/schedules/${id}:trigger`, { key: KEYS.acme })).status).toBe(202);
    // The triggered run is an acme task like any other: listed for acme, succeeded, run once.
    const run = await waitFor(
      async () => {
        const r = await call('GET', '/v1/tasks?type=demo.echo', { key: KEYS.acme });
        return r.body.tasks.find((t: { taskId: string }) => t.taskId.startsWith(`tw-tenant.acme.${id}`));
      },
      20_000,
      'triggered run',
    );
    await waitFor(async () => (await stack.client.describe(run.taskId)).executionStatus === 'COMPLETED', 20_000, 'scheduled run done');
    expect((await call('DELETE', `/v1/schedules/${id}`, { key: KEYS.acme })).status).toBe(200);
    expect((await call('GET', `/v1/schedules/${id}`, { key: KEYS.acme })).status).toBe(404);
  });
});

describe('system routes', () => {
  it('healthz (no key), metrics, pools, openapi', async () => {
    const h = await call('GET', '/healthz');
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ ok: true, temporal: 'up' });
    const m = await call('GET', '/metrics', { key: KEYS.acme });
    expect(m.status).toBe(200);
    expect(m.text).toContain('tideway_api_requests_total');
    expect(m.text).toMatch(/tideway_api_submits_total\{tenant="acme",outcome="started"\} \d+/);
    const p = await call('GET', '/v1/pools', { key: KEYS.acme });
    expect(p.status).toBe(200);
    const normal = p.body.pools.find((x: { taskQueue: string }) => x.taskQueue === poolTaskQueue('demo', 'normal'));
    expect(normal).toMatchObject({ group: 'demo', lane: 'normal', backlog: expect.any(Number), replicas: null });
  });
});

describe('backpressure', () => {
  it('throttles the flooding tenant with 429 + Retry-After while a quiet tenant still gets in; quota caps in-flight tasks', async () => {
    const queue = poolTaskQueue('demo', 'low');
    // Stop the low pool so its queue backs up.
    const low = stack.workers.find((w) => w.label === 'pool demo/low');
    expect(low).toBeDefined();
    await low!.stop(10_000);
    const bp = await buildApiServer({
      client: stack.client,
      keys,
      backpressure: { maxBacklog: 5, heavyShare: 0.25, hardLimitFactor: 1000, statsTtlMs: 200, tenantInflightLimit: 0 },
    });
    const { call: c } = await listen(bp);
    try {
      for (let i = 0; i < 2; i++)
        expect((await c('POST', '/v1/tasks', { key: KEYS.quiet, json: { type: 'demo.echo', input: i, lane: 'low' } })).status).toBe(201);
      const flood = await c('POST', '/v1/tasks:bulk', {
        key: KEYS.flood,
        json: { tasks: Array.from({ length: 30 }, (_, i) => ({ type: 'demo.echo', input: i, lane: 'low' })) },
      });
      expect(flood.body.accepted).toBe(30);
      await waitFor(async () => (await bp.stats.read(queue)).backlog > 5, 30_000, 'backlog above the limit');
      const refused = await c('POST', '/v1/tasks', { key: KEYS.flood, json: { type: 'demo.echo', input: 'more', lane: 'low' } });
      expect(refused.status).toBe(429);
      expect(refused.body.error.type).toBe('TooManyRequests');
      expect(refused.body.error.details.reason).toBe('backlog');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const quiet = await c('POST', '/v1/tasks', { key: KEYS.quiet, json: { type: 'demo.echo', input: 'still', lane: 'low' } });
      expect(quiet.status).toBe(201);
      // Other pools are not affected.
      expect((await c('POST', '/v1/tasks', { key: KEYS.flood, json: { type: 'demo.echo', input: 'hi', lane: 'high' } })).status).toBe(201);
      const m = await c('GET', '/metrics', { key: KEYS.flood });
      expect(m.text).toMatch(/tideway_api_throttled_total\{tenant="flood",reason="backlog"\} [1-9]/);
    } finally {
      await bp.close();
      await stack.spawn({ role: 'pool', group: 'demo', lane: 'low' });
    }
    await waitFor(async () => (await api.stats.read(queue)).backlog === 0 || undefined, 60_000, 'low pool drained');

    const q = await buildApiServer({ client: stack.client, keys, backpressure: { tenantInflightLimit: 3 } });
    const { call: qc } = await listen(q);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await qc('POST', '/v1/tasks', { key: KEYS.quota, json: { type: 'demo.sleep', input: { ms: 60_000 } } });
        expect(r.status).toBe(201);
        ids.push(r.body.taskId);
      }
      const fourth = await qc('POST', '/v1/tasks', { key: KEYS.quota, json: { type: 'demo.sleep', input: { ms: 60_000 } } });
      expect(fourth.status).toBe(429);
      expect(fourth.body.error.details.reason).toBe('inflight_quota');
      expect((await qc('POST', '/v1/tasks', { key: KEYS.quiet, json: { type: 'demo.echo', input: 1 } })).status).toBe(201);
      for (const id of ids) await qc('POST', `/v1/tasks/${id}:cancel`, { key: KEYS.quota });
    } finally {
      await q.close();
    }
  });
});

describe('lane admission', () => {
  test('over the low lane budget a submit gets 429 with Retry-After and starts nothing; other lanes pass', async () => {
    const paced = new TaskClient({
      client: stack.temporal,
      catalog,
      admission: parseAdmission('low=0.2/s,burst=2'),
      admissionMaxWaitMs: 0,
    });
    const a = await buildApiServer({ client: paced, keys, backpressure: false });
    const { call: ac } = await listen(a);
    try {
      const low = (taskId: string) =>
        ac('POST', '/v1/tasks', { key: KEYS.quiet, json: { type: 'demo.echo', input: 1, lane: 'low', taskId } });
      const [a1, a2, h] = [uniqueId('adm-a'), uniqueId('adm-b'), uniqueId('adm-high')];
      expect((await low(a1)).status).toBe(201);
      expect((await low(a2)).status).toBe(201);
      const refusedId = uniqueId('adm-c');
      const refused = await low(refusedId);
      expect(refused.status).toBe(429);
      expect(refused.body.error).toMatchObject({ type: 'TooManyRequests', details: { reason: 'lane_admission', lane: 'low' } });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await expect(stack.temporal.workflow.getHandle(refusedId).describe()).rejects.toThrow(/not found/i);
      // Bad input is still a 400 (validated before any budget is used), and the high lane is not paced.
      expect((await ac('POST', '/v1/tasks', { key: KEYS.quiet, json: { type: 'demo.echo', input: 1, lane: 'bulk' } })).status).toBe(400);
      expect(
        (await ac('POST', '/v1/tasks', { key: KEYS.quiet, json: { type: 'demo.echo', input: 1, lane: 'high', taskId: h } })).status,
      ).toBe(201);
      // Let the admitted tasks finish: a task left queued would be the next file's backlog.
      await Promise.all([a1, a2, h].map((id) => stack.client.result(id)));
    } finally {
      await a.close();
    }
  });
});
