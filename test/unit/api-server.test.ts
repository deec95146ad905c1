import { Client, Connection } from '@temporalio/client';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { TaskClient, type TaskState } from '../../api/task-client';
import { ApiKeyStore, authenticate, hashApiKey } from '../../api/http/auth';
import { SpaceSaving, compileBackpressure, type QueueStatsReader } from '../../api/http/backpressure';
import { admissionView, describePools } from '../../api/http/pools';
import { fastifyUrl } from '../../api/http/route';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { MAX_BULK } from '../../api/http/schemas';
import { catalog } from '../../examples/demo/catalog';
import { listen, type Caller } from '../integration/api-helpers';

// A lazy connection to a port nothing listens on: these tests must never reach Temporal, and if a
// route did try, the call would fail rather than pass by accident.
let server: ApiServer;
let call: Caller;
let connection: Connection;
beforeAll(async () => {
  connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 200 });
  const client = new TaskClient({ client: new Client({ connection }), catalog });
  const keys = ApiKeyStore.parse('acme=acme-key-123,globex=globex-key-456');
  server = await buildApiServer({ client, keys, bodyLimit: 4096, backpressure: false });
  ({ call } = await listen(server));
});
afterAll(async () => {
  await server.close();
  await connection.close();
});

const key = 'acme-key-123';

describe('auth', () => {
  it('stores only digests and maps keys to tenants', () => {
    const s = ApiKeyStore.parse('a=key-aaaaaaaa, b=sha256:' + hashApiKey('key-bbbbbbbb').slice(7));
    expect(s.tenantOf('key-aaaaaaaa')).toBe('a');
    expect(s.tenantOf('key-bbbbbbbb')).toBe('b');
    expect(s.tenantOf('nope')).toBeUndefined();
    expect(JSON.stringify([...(s as unknown as { byHash: Map<string, string> }).byHash.keys()])).not.toContain('key-aaaaaaaa');
  });
  it('rejects malformed configuration naming the problem', () => {
    expect(() => ApiKeyStore.parse('novalue')).toThrow(/tenant=key/);
    expect(() => ApiKeyStore.parse('bad tenant=longenoughkey')).toThrow(/invalid tenant/);
    expect(() => ApiKeyStore.parse('a=short')).toThrow(/shorter than 8/);
  });
  it('authenticate needs a Bearer key', () => {
    const s = ApiKeyStore.parse('a=key-aaaaaaaa');
    expect(authenticate(s, 'Bearer key-aaaaaaaa')).toBe('a');
    expect(() => authenticate(s, undefined)).toThrow(/missing/);
    expect(() => authenticate(s, 'Basic x')).toThrow(/Bearer/);
    expect(() => authenticate(s, 'Bearer wrong-key')).toThrow(/unknown/);
  });
});

describe('HTTP edge without Temporal', () => {
  it.each([
    ['GET', '/v1/tasks'],
    ['POST', '/v1/tasks'],
    ['GET', '/v1/pools'],
    ['GET', '/metrics'],
    ['GET', '/openapi.json'],
    ['GET', '/v1/tasks/t-1/logs'],
  ])('%s %s without a key is 401 with the error shape', async (method, url) => {
    const r = await call(method, url);
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ error: { type: 'Unauthorized', message: expect.any(String) } });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=5000', 'limit'],
    ['limit=x', 'limit'],
    ['after=%24%7Bx%7D', 'after'],
    ['tail=5', ''],
  ])('GET /v1/tasks/{id}/logs?%s is 400 naming %s', async (query, path) => {
    const r = await call('GET', `/v1/tasks/t-1/logs?${query}`, { key });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe(path);
  });

  it('rejects a wrong key', async () => {
    const r = await call('GET', '/v1/tasks', { key: 'nope-nope-nope' });
    expect(r.status).toBe(401);
  });

  it('400 names the zod path of each bad field', async () => {
    const r = await call('POST', '/v1/tasks', { key, json: { type: 'demo.sleep', input: { ms: 'x' }, lane: 'urgent' } });
    expect(r.status).toBe(400);
    const body = r.body;
    expect(body.error.type).toBe('ValidationError');
    expect(body.error.details.issues.map((i: { path: string }) => i.path)).toContain('lane');
  });

  it('400 for catalog input errors with input.* paths, and for unknown types', async () => {
    const r = await call('POST', '/v1/tasks', { key, json: { type: 'demo.sleep', input: { ms: 'x' } } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('input.ms');
    const u = await call('POST', '/v1/tasks', { key, json: { type: 'no.such', input: {} } });
    expect(u.status).toBe(400);
    expect(u.body.error.type).toBe('UnknownTaskTypeError');
  });

  it('never takes the tenant from the body', async () => {
    const r = await call('POST', '/v1/tasks', { key, json: { type: 'demo.echo', input: {}, tenant: 'globex' } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('');
  });

  it('400 when Idempotency-Key and body taskId differ', async () => {
    const r = await call('POST', '/v1/tasks', {
      key,
      headers: { 'idempotency-key': 'k-1' },
      json: { type: 'demo.echo', input: {}, taskId: 'k-2' },
    });
    expect(r.status).toBe(400);
  });

  it('413 above the body limit', async () => {
    const r = await call('POST', '/v1/tasks', { key, json: { type: 'demo.echo', input: 'x'.repeat(10_000) } });
    expect(r.status).toBe(413);
    expect(r.body.error.type).toBe('PayloadTooLarge');
  });

  it('400 for malformed JSON; 404 with the error shape for unknown routes and actions', async () => {
    const bad = await call('POST', '/v1/tasks', { key, raw: '{"type":' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.type).toBe('MalformedJson');
    const nf = await call('GET', '/v2/nothing', { key });
    expect(nf.status).toBe(404);
    expect(nf.body.error.type).toBe('NotFound');
    const act = await call('POST', '/v1/tasks/abc:explode', { key });
    expect(act.status).toBe(404);
  });

  it('validates the {id}:action routes with their own schemas, splitting the ID at the last colon', async () => {
    const id = await call('POST', '/v1/tasks/a:b..:cancel', { key });
    expect(id.status).toBe(400);
    expect(id.body.error.details.issues).toContainEqual({ path: 'id', message: 'taskId must not contain ".."' });
    const body = await call('POST', '/v1/tasks/abc:pause', { key, json: { lane: 'high' } });
    expect(body.status).toBe(400);
    expect(body.body.error.type).toBe('ValidationError');
    const lane = await call('POST', '/v1/tasks/abc:redrive', { key, json: { lane: 'urgent' } });
    expect(lane.status).toBe(400);
    expect(lane.body.error.details.issues[0].path).toBe('lane');
    const schedule = await call('POST', '/v1/schedules/Not-Lower:trigger', { key });
    expect(schedule.status).toBe(400);
    expect(schedule.body.error.details.issues[0].path).toBe('id');
    expect((await call('POST', '/v1/schedules/nightly:explode', { key })).status).toBe(404);
  });

  it('400 names Idempotency-Key when the header is not a task ID', async () => {
    const r = await call('POST', '/v1/tasks', { key, headers: { 'idempotency-key': '..' }, json: { type: 'demo.echo' } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('Idempotency-Key');
  });

  it('rejects bulk requests over MAX_BULK items as a whole', async () => {
    const tasks = Array.from({ length: MAX_BULK + 1 }, () => ({}));
    const big = await buildApiServer({
      client: new TaskClient({ client: new Client({ connection }), catalog }),
      keys: ApiKeyStore.parse('acme=acme-key-123'),
      backpressure: false,
      bodyLimit: 8 * 2 ** 20,
    });
    const r = await (await listen(big)).call('POST', '/v1/tasks:bulk', { key, json: { tasks } });
    await big.close();
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('tasks');
  });

  it('schedule create with a bad cron is 400 naming cron (before Temporal is called)', async () => {
    const r = await call('POST', '/v1/schedules', { key, json: { id: 'nightly', cron: '61 * * * *', type: 'demo.echo', input: {} } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('cron');
  });
});

describe('openapi.json', () => {
  it('is generated from the route table and every schema compiles as JSON Schema 2020-12', async () => {
    const r = await call('GET', '/openapi.json', { key });
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/v1/tasks',
      '/v1/tasks:bulk',
      '/v1/tasks/{id}',
      '/v1/tasks/{id}:cancel',
      '/v1/tasks/{id}:pause',
      '/v1/tasks/{id}:resume',
      '/v1/tasks/{id}:redrive',
      '/v1/tasks/{id}/logs',
      '/v1/batches',
      '/v1/batches/{id}',
      '/v1/schedules',
      '/v1/schedules/{id}',
      '/v1/schedules/{id}:trigger',
      '/v1/pools',
      '/healthz',
      '/metrics',
      '/openapi.json',
    ]) {
      expect(paths).toContain(p);
    }
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema(doc.components.schemas.Error, '#/components/schemas/Error');
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(['get', 'post', 'delete']).toContain(method);
        expect(typeof op.summary).toBe('string');
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        // Every {param} in the path is declared as a path parameter.
        for (const m of path.matchAll(/\{(\w+)\}/g)) {
          expect(op.parameters?.some((p: any) => p.in === 'path' && p.name === m[1])).toBe(true);
        }
        for (const p of op.parameters ?? []) expect(() => ajv.compile(p.schema)).not.toThrow();
        const body = op.requestBody?.content?.['application/json']?.schema;
        if (body) expect(() => ajv.compile(body)).not.toThrow();
        for (const res of Object.values(op.responses as Record<string, any>)) {
          if (res.$ref) {
            expect(doc.components.responses[res.$ref.split('/').pop()]).toBeDefined();
            continue;
          }
          const s = res.content?.['application/json']?.schema;
          if (s) expect(() => ajv.compile(s)).not.toThrow();
        }
      }
    }
    // Every operation in the document is a route fastify serves, and every route is documented.
    const operations = Object.values(doc.paths as Record<string, object>).flatMap((ops) => Object.keys(ops));
    expect(operations).toHaveLength(server.routes.length);
    for (const r of server.routes) {
      expect(doc.paths[r.path][r.method]).toBeDefined();
      expect(server.app.hasRoute({ method: r.method.toUpperCase() as 'GET', url: fastifyUrl(r.path) })).toBe(true);
    }
    // The body schema in the document accepts what the API accepts and rejects what it rejects.
    const submit = ajv.compile(doc.paths['/v1/tasks'].post.requestBody.content['application/json'].schema);
    expect(submit({ type: 'demo.echo', input: { a: 1 }, lane: 'high' })).toBe(true);
    expect(submit({ type: 'demo.echo', tenant: 'x' })).toBe(false);
    expect(submit({ type: 'demo.echo', lane: 'urgent' })).toBe(false);
    // The task state in the document is the one `state` answers (one schema): every field of it is documented.
    const state = ajv.compile(doc.paths['/v1/tasks/{id}'].get.responses['200'].content['application/json'].schema);
    const deadLettered: TaskState = {
      taskId: 't1',
      type: 'demo.fail',
      status: 'dead_lettered',
      attempts: 3,
      lane: 'high',
      group: 'demo',
      tenant: 'acme',
      paused: false,
      promotions: [{ from: 'normal', to: 'high', at: '2026-01-01T00:00:01.000Z' }],
      redrives: 1,
      lastError: { type: 'Boom', class: 'retryable', message: 'boom', attempt: 3 },
      timestamps: {
        submittedAt: '2026-01-01T00:00:00.000Z',
        startedAt: '2026-01-01T00:00:02.000Z',
        deadLetteredAt: '2026-01-01T00:00:03.000Z',
        deadLetterExpiresAt: '2026-01-08T00:00:03.000Z',
        expiresAt: '2026-01-01T01:00:00.000Z',
      },
    };
    expect(state(deadLettered)).toBe(true);
    expect(state({ ...deadLettered, status: 'lost' })).toBe(false);
  });
});

describe('fastifyUrl', () => {
  it('escapes literal colons and ends a mid-segment {param} with a pattern', () => {
    expect(fastifyUrl('/v1/tasks:bulk')).toBe('/v1/tasks::bulk');
    expect(fastifyUrl('/v1/tasks/{id}')).toBe('/v1/tasks/:id');
    expect(fastifyUrl('/v1/tasks/{id}:cancel')).toBe('/v1/tasks/:id(.+)::cancel');
  });
});

describe('SpaceSaving heavy hitters', () => {
  it('keeps at most `capacity` counters and finds the heavy key in a long tail', () => {
    const s = new SpaceSaving(8);
    for (let i = 0; i < 10_000; i++) {
      s.add(i % 2 === 0 ? 'flood' : `quiet-${i}`);
    }
    expect(s.size).toBeLessThanOrEqual(8);
    expect(s.share('flood')).toBeGreaterThan(0.4);
    expect(s.top(1)[0]!.key).toBe('flood');
    // A quiet key that inherited a big counter still has a tiny guaranteed share.
    s.add('newcomer');
    expect(s.estimate('newcomer')).toBeGreaterThan(1);
    expect(s.share('newcomer')).toBeLessThan(0.01);
  });
  it('decay forgets old traffic', () => {
    const s = new SpaceSaving(4);
    for (let i = 0; i < 100; i++) s.add('old');
    for (let i = 0; i < 30; i++) s.decay(0.5);
    s.add('new');
    expect(s.share('new')).toBeGreaterThan(0.99);
  });
  it('compileBackpressure rejects impossible settings naming the field', () => {
    expect(() => compileBackpressure({ heavyShare: 0 })).toThrow(/heavyShare/);
    expect(() => compileBackpressure({ hardLimitFactor: 0.5 })).toThrow(/hardLimitFactor/);
    expect(compileBackpressure({}).maxBacklog).toBe(10_000);
  });
});

describe('router errors', () => {
  it("a badly encoded URL gets our error shape, not fastify's", async () => {
    const r = await call('GET', '/v1/tasks/%zz', { key });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: { type: 'BadRequest', message: expect.any(String) } });
  });
});

describe('hostile input', () => {
  it('deeply nested input is a 400 naming the limit (20,000 levels used to be a 500)', async () => {
    const deep = `${'['.repeat(2_000)}${']'.repeat(2_000)}`; // within this server's 4 KiB body limit
    const r = await call('POST', '/v1/tasks', { key, raw: `{"type":"demo.echo","input":${deep}}` });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      error: {
        type: 'ValidationError',
        details: { issues: [{ path: 'input', message: expect.stringContaining('deeper than 64 levels') }] },
      },
    });
  });
});

describe('lane admission in GET /v1/pools and /metrics', () => {
  it("answers this API's admission mode, objective and rates (the TaskClient default: adaptive)", async () => {
    // The route's pool rows need Temporal; its admission object is this view of the client's gate.
    const view = admissionView(new TaskClient({ client: new Client({ connection }), catalog }).admission);
    expect(view).toEqual({ mode: 'adaptive', objectiveMs: 250, rates: { normal: 20, low: 20 } });
    expect(admissionView(new TaskClient({ client: new Client({ connection }), catalog, admission: { kind: 'off' } }).admission)).toEqual({
      mode: 'off',
      objectiveMs: null,
      rates: {},
    });
    const m = await call('GET', '/metrics', { key });
    expect(m.text).toMatch(/tideway_admission_rate\{lane="low"\} 20/);
  });
});

describe('pools of an app', () => {
  it("GET /v1/pools rows name the app's own queues", async () => {
    // No server here: a stats reader that fails at once; the rows still come, with their queue names.
    const noStats = { read: () => Promise.reject(new Error('no server')) } as unknown as QueueStatsReader;
    const rows = await describePools(catalog.withApp('alpha'), noStats, undefined, []);
    expect(rows.map((r) => r.taskQueue)).toEqual(['tideway.alpha.demo.high', 'tideway.alpha.demo.normal', 'tideway.alpha.demo.low']);
  });
});
