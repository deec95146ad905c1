import { Client, Connection } from '@temporalio/client';
import fc from 'fast-check';
import { ApiKeyStore } from '../../api/http/auth';
import { listQuerySchema } from '../../api/http/schemas';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { catalog, type Tasks } from '../../examples/demo/catalog';
import { testAddress } from '../helpers/stack';
import { listen, type Answer, type Caller } from './api-helpers';

/**
 * Throws bad input at every route of the real server: malformed JSON, wrong types, huge strings,
 * unknown fields, odd IDs. Every answer must be a 4xx with the error shape, the server must stay up,
 * and no workflow may start.
 */

jest.setTimeout(180_000);
const KEY = 'fuzz-key-000001';
let api: ApiServer;
let call: Caller;
let connection: Connection;
let client: TaskClient<Tasks>;

beforeAll(async () => {
  connection = await Connection.connect({ address: testAddress() });
  client = new TaskClient({ client: new Client({ connection }), catalog });
  api = await buildApiServer({ client, keys: ApiKeyStore.parse(`fuzz=${KEY}`), bodyLimit: 64 * 1024 });
  ({ call } = await listen(api));
});
afterAll(async () => {
  await api?.close();
  await connection?.close();
});

function expect4xx(r: Answer, what: string): void {
  if (!(r.status >= 400 && r.status < 500)) throw new Error(`${what.slice(0, 120)} → ${r.status} ${r.text.slice(0, 300)}`);
  const e = r.body?.error;
  if (!e || typeof e.type !== 'string' || typeof e.message !== 'string')
    throw new Error(`${what.slice(0, 120)} → no error shape: ${r.text.slice(0, 300)}`);
}

/** IDs no route may accept: empty, 1 KB, control characters, path tricks, odd unicode. */
const oddId = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    '../',
    '../../etc/passwd',
    '..%2F..',
    '%00',
    'a/../b',
    'a\u0000b',
    '\u0007\u0008',
    ' ',
    'é',
    '😀',
    '-lead',
    'x'.repeat(1024),
  ),
  fc.string({ minLength: 1, maxLength: 40 }).map((s) => `\u0001${s}`),
  fc.string({ unit: 'binary', minLength: 201, maxLength: 400 }),
);

const junk = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
);
const huge = fc.integer({ min: 10_000, max: 60_000 }).map((n) => 'z'.repeat(n));

/** Submit bodies that must all be refused: each has at least one definite flaw. */
const badSubmit = fc.oneof(
  junk.map((type) => ({ type: typeof type === 'string' && type.length > 0 ? 42 : type, input: {} })),
  fc.record({ type: fc.constant('demo.sleep'), input: fc.record({ ms: fc.oneof(fc.string(), fc.constant(-1), fc.constant(1.5)) }) }),
  fc.record({ type: fc.constant('demo.echo'), input: junk, extra: junk }),
  fc.record({ type: fc.constant('demo.echo'), tenant: fc.constantFrom('acme', 'fuzz') }),
  fc.record({ type: huge }),
  fc.record({ type: fc.constant('demo.echo'), taskId: oddId.filter((s) => s !== '') }),
  fc.record({ type: fc.constant('demo.echo'), lane: junk }),
  fc.record({
    type: fc.constant('demo.echo'),
    callbackUrl: fc.constantFrom('file:///etc/passwd', 'javascript:alert(1)', 'not a url', 'gopher://x'),
  }),
  fc.record({ type: fc.constant('demo.echo'), delay: fc.constantFrom('soon', '-5s', 'ten minutes', '1y') }),
  fc.record({ type: fc.constantFrom('no.such', 'demo', '', 'DEMO.ECHO') }),
  junk,
);

const malformedJson = fc.oneof(
  fc.constantFrom('{', '{"type":', '[1,2', 'nul', '{"a":1}}', "{'type':'demo.echo'}", '\u0000', '{"type":"demo.echo",}'),
  fc.string({ maxLength: 80 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
);

const enc = encodeURIComponent;

describe('fuzzing every route', () => {
  it('answers 4xx with the error shape, stays up, and starts no workflow', async () => {
    const before = await client.count({ tenant: 'fuzz' });
    const runs = { numRuns: 60 };

    await fc.assert(
      fc.asyncProperty(badSubmit, async (b) =>
        expect4xx(await call('POST', '/v1/tasks', { key: KEY, json: b }), `submit ${JSON.stringify(b).slice(0, 100)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(malformedJson, fc.constantFrom('/v1/tasks', '/v1/tasks:bulk', '/v1/batches', '/v1/schedules'), async (raw, path) =>
        expect4xx(await call('POST', path, { key: KEY, raw }), `malformed ${path} ${raw}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          junk,
          fc.record({
            tasks: fc.oneof(
              junk.filter((v) => !Array.isArray(v)),
              fc.constant([]),
            ),
          }),
          fc.record({ tasks: fc.constant([{ type: 'demo.echo' }]), more: junk }),
        ),
        async (b) => expect4xx(await call('POST', '/v1/tasks:bulk', { key: KEY, json: b }), `bulk ${JSON.stringify(b).slice(0, 100)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(oddId, async (id) =>
        expect4xx(await call('GET', `/v1/tasks/${enc(id)}`, { key: KEY }), `get ${JSON.stringify(id).slice(0, 60)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(oddId, fc.constantFrom('cancel', 'pause', 'resume', 'redrive', 'discard', 'explode', ''), async (id, action) =>
        expect4xx(
          await call('POST', `/v1/tasks/${enc(id)}:${action}`, { key: KEY }),
          `action ${action} ${JSON.stringify(id).slice(0, 60)}`,
        ),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(
        fc
          .dictionary(
            fc.constantFrom('type', 'status', 'lane', 'group', 'pageSize', 'pageToken', 'tenant', 'x'),
            fc.oneof(
              fc.string({ maxLength: 30 }),
              huge.map((s) => s.slice(0, 5000)),
            ),
            { minKeys: 1 },
          )
          // Only queries the route's schema refuses must be 4xx; an accepted one (e.g. a known status, a
          // page size of "5", an empty pageToken meaning the first page) is a valid list call.
          .filter((q) => !listQuerySchema.safeParse(q).success),
        async (q) =>
          expect4xx(await call('GET', `/v1/tasks?${new URLSearchParams(q)}`, { key: KEY }), `list ${JSON.stringify(q).slice(0, 80)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          junk,
          fc.record({ operation: junk, filter: junk }),
          fc.record({ operation: fc.constant('cancel'), filter: fc.record({ tenant: fc.constant('acme') }) }),
        ),
        async (b) => expect4xx(await call('POST', '/v1/batches', { key: KEY, json: b }), `batch ${JSON.stringify(b).slice(0, 80)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(oddId, async (id) =>
        expect4xx(await call('GET', `/v1/batches/${enc(id)}`, { key: KEY }), `batch get ${JSON.stringify(id).slice(0, 60)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          junk,
          fc.record({ id: oddId, cron: fc.constant('* * * * *'), type: fc.constant('demo.echo') }),
          fc.record({
            id: fc.constant('ok-id'),
            cron: fc.oneof(junk, fc.constantFrom('61 * * * *', '* * *', '@reboot', 'x'.repeat(300))),
            type: fc.constant('demo.echo'),
          }),
          fc.record({ id: fc.constant('ok-id'), cron: fc.constant('0 3 * * *'), type: fc.constant('no.such') }),
        ),
        async (b) => expect4xx(await call('POST', '/v1/schedules', { key: KEY, json: b }), `schedule ${JSON.stringify(b).slice(0, 80)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(oddId, fc.constantFrom('GET', 'DELETE'), async (id, m) =>
        expect4xx(await call(m, `/v1/schedules/${enc(id)}`, { key: KEY }), `schedule ${m} ${JSON.stringify(id).slice(0, 60)}`),
      ),
      runs,
    );
    await fc.assert(
      fc.asyncProperty(oddId, fc.constantFrom('pause', 'resume', 'trigger', 'nope'), async (id, a) =>
        expect4xx(await call('POST', `/v1/schedules/${enc(id)}:${a}`, { key: KEY }), `schedule ${a} ${JSON.stringify(id).slice(0, 60)}`),
      ),
      runs,
    );
    // Every route refuses a missing or wrong key (and a huge one) before doing anything.
    const routes: [string, string][] = [
      ['POST', '/v1/tasks'],
      ['POST', '/v1/tasks:bulk'],
      ['GET', '/v1/tasks'],
      ['GET', '/v1/tasks/x'],
      ['POST', '/v1/tasks/x:cancel'],
      ['POST', '/v1/batches'],
      ['GET', '/v1/batches/x'],
      ['GET', '/v1/schedules'],
      ['POST', '/v1/schedules'],
      ['DELETE', '/v1/schedules/x'],
      ['GET', '/v1/pools'],
      ['GET', '/metrics'],
      ['GET', '/openapi.json'],
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(
          fc.constant(undefined),
          fc.string({ maxLength: 20 }),
          huge.map((s) => s.slice(0, 4000)),
        ),
        async ([m, p], key) => {
          const r = await call(m, p, {
            ...(key !== undefined && !/[\r\n]/.test(key) ? { headers: { authorization: `Bearer ${key}` } } : {}),
            ...(m === 'POST' ? { json: { type: 'demo.echo' } } : {}),
          });
          expect4xx(r, `auth ${m} ${p}`);
          if (r.status !== 401 && r.status !== 400) throw new Error(`${m} ${p} with a bad key → ${r.status}`);
        },
      ),
      runs,
    );
    // Hostile inputs (deep nesting, huge arrays, long strings, odd Unicode): a 4xx, never a 5xx, for
    // one submit and for each bulk item. Each has a definite flaw, so nothing may start.
    const nested = (levels: number, leaf: unknown): unknown => {
      let v = leaf;
      for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
      return v;
    };
    const oddUnicode = fc.constantFrom(
      '\ud800',
      '\udfff x',
      '\u202e\u202d',
      'a\u200db\u200c',
      '\ufeff',
      '\u0000',
      '𝕏'.repeat(500),
      'é\u0301'.repeat(300),
    );
    const hostile = fc.oneof(
      // Deep: past the 64-level limit (3,000 levels is what this test process can still encode; the raw
      // 20,000-level body below goes further), under an otherwise fine type.
      fc.integer({ min: 65, max: 3_000 }).map((n) => ({ type: 'demo.echo', input: nested(n, 1) })),
      fc.integer({ min: 65, max: 3_000 }).map((n) => ({ type: 'demo.sleep', input: { ms: nested(n, 'x') } })),
      // Huge arrays and long strings where the schema wants a number.
      fc.integer({ min: 1_000, max: 12_000 }).map((n) => ({ type: 'demo.sleep', input: { ms: new Array<number>(n).fill(0) } })),
      fc.integer({ min: 1_000, max: 50_000 }).map((n) => ({ type: 'demo.sleep', input: { ms: 'm'.repeat(n) } })),
      // Odd Unicode in every string field that is checked.
      oddUnicode.map((u) => ({ type: `demo.${u}`, input: {} })),
      oddUnicode.map((u) => ({ type: 'demo.echo', input: {}, taskId: `id${u}` })),
      oddUnicode.map((u) => ({ type: 'demo.echo', input: {}, lane: u })),
      oddUnicode.map((u) => ({ type: 'demo.fail', input: { errorClass: u, times: 1 } })),
    );
    await fc.assert(
      fc.asyncProperty(hostile, async (b) => {
        const what = `hostile ${JSON.stringify(b).slice(0, 100)}`;
        expect4xx(await call('POST', '/v1/tasks', { key: KEY, json: b }), what);
        const bulk = await call('POST', '/v1/tasks:bulk', { key: KEY, json: { tasks: [b] } });
        if (bulk.status >= 500) throw new Error(`${what} in bulk → ${bulk.status} ${bulk.text.slice(0, 200)}`);
        if (bulk.status === 202 && !(bulk.body.accepted === 0 && bulk.body.errors[0].httpStatus < 500)) {
          throw new Error(`${what} in bulk → ${bulk.text.slice(0, 200)}`);
        }
      }),
      runs,
    );
    // The 20,000-level input of the report, at the default body limit's scale, names the limit.
    const deep = await call('POST', '/v1/tasks', {
      key: KEY,
      raw: `{"type":"demo.echo","input":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    });
    expect(deep.status).toBe(400);
    expect(deep.body.error.details.issues[0]).toMatchObject({ path: 'input', message: expect.stringContaining('64 levels') });
    // A body over the limit is 413 without being parsed.
    expect4xx(await call('POST', '/v1/tasks', { key: KEY, json: { type: 'demo.echo', input: 'y'.repeat(100_000) } }), 'too large');
    // Bulk whose items are all bad: 202 with every item refused, nothing accepted or started.
    const allBad = await call('POST', '/v1/tasks:bulk', {
      key: KEY,
      json: { tasks: [{ type: 'no.such' }, { type: 'demo.sleep', input: { ms: 'x' } }, 7, null] },
    });
    expect(allBad.status).toBe(202);
    expect(allBad.body.accepted).toBe(0);
    expect(allBad.body.errors).toHaveLength(4);
    expect(allBad.body.errors.every((r: { httpStatus: number }) => r.httpStatus === 400)).toBe(true);

    expect((await call('GET', '/healthz')).status).toBe(200);
    // Visibility lags a little; give a wrongly started workflow time to show up before counting.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await client.count({ tenant: 'fuzz' })).toBe(before);
    const m = await call('GET', '/metrics', { key: KEY });
    expect(m.text).not.toMatch(/tideway_api_submits_total\{tenant="fuzz",outcome="started"\}/);
    expect(m.text).not.toMatch(/status="5\d\d"/);
  });
});
