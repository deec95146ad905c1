import { Client, Connection } from '@temporalio/client';
import { SampleRing, PoolSampler } from '../../api/dashboard/history';
import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { listen, type Caller } from '../integration/api-helpers';
import { plannedReplicas } from '../../api/dashboard/forecast';
import { sampleOf } from '../../api/dashboard/view';
import type { HistorySample } from '../../api/dashboard/schemas';
import { scaledPool } from '../../scaler/types';
import { catalog } from '../../examples/demo/catalog';

const sample = (at: number): HistorySample => ({ at, pools: {}, admission: {} });

describe('SampleRing', () => {
  it('keeps the newest `capacity` samples, oldest first', () => {
    const r = new SampleRing(3);
    for (let i = 1; i <= 5; i++) r.push(sample(i));
    expect(r.size).toBe(3);
    expect(r.since().map((s) => s.at)).toEqual([3, 4, 5]);
    expect(r.since(3).map((s) => s.at)).toEqual([4, 5]);
    expect(r.since(5)).toEqual([]);
  });
  it('rejects a capacity below one', () => {
    expect(() => new SampleRing(0)).toThrow(RangeError);
  });
});

describe('PoolSampler', () => {
  it('holds an hour of 10 s samples and answers only those within the window', async () => {
    let now = 0;
    const s = new PoolSampler({ take: async (at) => sample(at), now: () => now });
    for (let i = 0; i < 400; i++) {
      now = i * 10_000;
      await s.sample();
    }
    const all = s.samples();
    expect(all.length).toBe(360);
    expect(all[0]!.at).toBe(now - 3_590_000);
    expect(s.samples(now - 20_000).map((x) => x.at)).toEqual([now - 10_000, now]);
  });
  it('survives a failing read (the chart gets a gap, not a crash)', async () => {
    const s = new PoolSampler({ take: async () => Promise.reject(new Error('down')) });
    await expect(s.sample()).resolves.toBeUndefined();
    expect(s.samples()).toEqual([]);
  });
});

describe('sampleOf', () => {
  it('keys pools by group.lane and copies the admission rates', () => {
    const row = {
      group: 'demo',
      lane: 'high' as const,
      taskQueue: 'tideway.demo.high',
      backlog: 4,
      backlogAgeMs: 120,
      addRate: 1,
      dispatchRate: 1,
      replicas: 2,
      desired: 3,
      maxBacklog: null,
      overloaded: false,
    };
    expect(sampleOf(7, [row], { mode: 'adaptive', objectiveMs: 250, rates: { low: 5 } })).toEqual({
      at: 7,
      pools: { 'demo.high': { backlog: 4, backlogAgeMs: 120, replicas: 2, desired: 3 } },
      admission: { low: 5 },
    });
  });
});

describe('plannedReplicas', () => {
  const spec = catalog.pools.find((p) => p.lane === 'low')!;
  const pool = scaledPool({ ...spec, concurrency: 10, minReplicas: 0, maxReplicas: 5 });
  const fire = { at: 0, scheduleId: 's', taskType: 'demo.echo', source: 'catalog' as const };
  it.each([
    // tasks, mean ms, drain ms, maxParallel → replicas
    [1, 1_000, 60_000, undefined, 1],
    [100, 1_000, 60_000, undefined, 1], // 100 × 1 s / 60 s ≈ 1.7 slots
    [6_000, 1_000, 60_000, undefined, 5], // 100 slots, capped by maxReplicas
    [6_000, 1_000, 60_000, 8, 1], // a batch runs at most 8 shards at once
    [0, 1_000, 60_000, undefined, 0],
  ])('%i tasks of %i ms, drain %i ms, cap %s → %i', (tasks, mean, drain, cap, want) => {
    expect(plannedReplicas({ ...fire, expectedTasks: tasks, ...(cap ? { maxParallel: cap } : {}) }, pool, mean, drain)).toBe(want);
  });
});

describe('dashboard routes without Temporal', () => {
  // A lazy connection to a port nothing listens on, as in api-server.test.ts: no route here may need Temporal.
  let server: ApiServer;
  let call: Caller;
  let connection: Connection;
  beforeAll(async () => {
    connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 200 });
    const client = new TaskClient({ client: new Client({ connection }), catalog });
    server = await buildApiServer({ client, keys: ApiKeyStore.parse('acme=acme-key-123'), backpressure: false });
    ({ call } = await listen(server));
  });
  afterAll(async () => {
    await server.close();
    await connection.close();
  });

  it('serves the page and its files to anyone, with their content types', async () => {
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toContain('/dashboard/app.js');
    for (const [f, type] of [
      ['app.js', /^text\/javascript/],
      ['style.css', /^text\/css/],
      ['echarts.min.js', /^text\/javascript/],
    ] as const) {
      const r = await call('GET', `/dashboard/${f}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(type);
    }
  });
  it('serves nothing else from its folder, and its data only with a key', async () => {
    expect((await call('GET', '/dashboard/..%2Fview.ts')).status).toBe(400);
    expect((await call('GET', '/dashboard/index.html')).status).toBe(400);
    expect((await call('GET', '/v1/dashboard')).status).toBe(401);
    expect((await call('GET', '/v1/dashboard?since=x', { key: 'acme-key-123' })).status).toBe(400);
  });
  it('documents its routes in openapi.json', async () => {
    const doc = (await call('GET', '/openapi.json', { key: 'acme-key-123' })).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/', '/dashboard/{file}', '/v1/dashboard']));
  });
});
