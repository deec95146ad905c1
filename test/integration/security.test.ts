import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createCallbackActivities } from '../../activities/callback';
import { loadSettings } from '../../config/settings';
import { findOrBuildTemporalCli, startDevServer, type DevServer } from '../../temporal';
import { spawnApi, tail } from '../faults/helpers';
import { startStack, uniqueId, waitFor, expectNoLeakedWorkers, type Stack } from '../helpers/stack';
import { caller, type Answer, type Caller } from './api-helpers';

/**
 * The security sweep, against the real API process and real workers: tenant isolation on every
 * route, auth bypass attempts, hostile bodies and task IDs, callback SSRF (redirects and DNS names
 * included), and no API key, codec key or payload in any log line.
 */

jest.setTimeout(240_000);

const KEYS = { acme: `acme-${randomBytes(12).toString('hex')}`, globex: `globex-${randomBytes(12).toString('hex')}` };
const CODEC_KEY = randomBytes(32).toString('base64');
/** Put in task inputs: must never appear in a log line. */
const PAYLOAD = `payload-secret-${randomBytes(8).toString('hex')}`;

let stack: Stack;
/**
 * Its own Temporal server: the stack runs with a codec key, and its control worker writes the demo
 * catalog's schedules encrypted; on the shared server, later tests without the key could not read them.
 */
let server: DevServer | undefined;
let api: Awaited<ReturnType<typeof spawnApi>>;
let call: Caller;
let dir: string;
/** A server that records every request it gets (callbacks that must not arrive). */
let sink: Server;
let sinkHits: string[] = [];
let sinkPort = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tideway-security-'));
  const env = { TIDEWAY_CODEC_KEYS: `sec-1:${CODEC_KEY}`, TIDEWAY_LOG_LEVEL: 'debug', TIDEWAY_TASK_LOG_LEVEL: 'debug' };
  const settings = loadSettings();
  const cli =
    process.env.TIDEWAY_TEST_TEMPORAL_CLI ??
    (await findOrBuildTemporalCli({ explicit: settings.temporalCli, cacheDir: settings.cacheDir, searchPath: settings.searchPath }));
  server = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
  stack = await startStack({ pools: [['demo', 'normal']], env, address: server.address });
  api = await spawnApi({
    address: stack.address,
    keys: `acme=${KEYS.acme},globex=${KEYS.globex}`,
    log: join(dir, 'api.log'),
    env: { ...env, TIDEWAY_BODY_LIMIT: String(64 * 1024) },
  });
  call = caller(api.url);
  sink = createServer((req, res) => {
    sinkHits.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  sink.listen(0, '127.0.0.1');
  await new Promise((r) => sink.once('listening', r));
  sinkPort = (sink.address() as AddressInfo).port;
});
afterAll(async () => {
  await api?.kill('SIGTERM');
  await stack?.stop();
  await server?.stop();
  await new Promise((r) => sink?.close(r));
  expectNoLeakedWorkers();
});

/** Every worker process of the stack appends its output here. */
const workerLog = () => join(dirname(stack.ledger), 'workers.log');
const as =
  (tenant: keyof typeof KEYS) =>
  (method: string, path: string, opts: Parameters<Caller>[2] = {}) =>
    call(method, path, { ...opts, key: KEYS[tenant] });
const acme = as('acme');
const globex = as('globex');
const notFound = (r: Answer, what: string) => {
  if (r.status !== 404) throw new Error(`${what}: expected 404, got ${r.status} ${r.text.slice(0, 200)}`);
};

describe('tenant isolation: another tenant cannot read, act on, list or see any of it', () => {
  it('tasks, logs, actions, lists, batches, bulks, schedules and the dashboard', async () => {
    const running = uniqueId('sec-run');
    const failed = uniqueId('sec-dead');
    expect((await acme('POST', '/v1/tasks', { json: { type: 'demo.sleep', input: { ms: 120_000 }, taskId: running } })).status).toBe(201);
    expect(
      (await acme('POST', '/v1/tasks', { json: { type: 'demo.fail', input: { errorClass: 'non_retryable', times: 1 }, taskId: failed } }))
        .status,
    ).toBe(201);
    const bulk = await acme('POST', '/v1/tasks:bulk', {
      json: { bulkId: uniqueId('sec-bulk'), tasks: [{ type: 'demo.echo', input: { x: PAYLOAD } }] },
    });
    expect(bulk.status).toBe(202);
    const batch = await acme('POST', '/v1/batches', { json: { operation: 'cancel', filter: { type: 'demo.report' } } });
    expect(batch.status).toBe(202);
    const schedId = uniqueId('sec-sched');
    const sched = await acme('POST', '/v1/schedules', {
      json: { id: schedId, cron: '0 3 * * *', type: 'demo.echo', input: {}, paused: true },
    });
    expect(sched.status).toBe(201);
    await waitFor(async () => (await acme('GET', `/v1/tasks/${running}`)).body?.status === 'running', 30_000, 'running');
    await waitFor(
      async () => ['failed', 'dead_lettered'].includes((await acme('GET', `/v1/tasks/${failed}`)).body?.status),
      30_000,
      'dead',
    );

    for (const id of [running, failed]) {
      notFound(await globex('GET', `/v1/tasks/${id}`), `get ${id}`);
      notFound(await globex('GET', `/v1/tasks/${id}/logs`), `logs ${id}`);
      for (const action of ['cancel', 'pause', 'resume', 'redrive', 'discard']) {
        notFound(await globex('POST', `/v1/tasks/${id}:${action}`, { json: {} }), `${action} ${id}`);
      }
      // Submitting with another tenant's ID neither reveals nor replaces it.
      const steal = await globex('POST', '/v1/tasks', { json: { type: 'demo.echo', input: {}, taskId: id } });
      expect(steal.status).toBe(409);
      expect(steal.text).not.toContain('acme');
    }
    const list = await globex('GET', '/v1/tasks?pageSize=1000');
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(running);
    // A tenant filter in the query is ignored or refused, never obeyed.
    const forged = await globex('GET', '/v1/tasks?tenant=acme&pageSize=1000');
    expect(forged.text).not.toContain(running);
    notFound(await globex('GET', `/v1/bulk/${bulk.body.bulkId}`), 'bulk');
    notFound(await globex('POST', `/v1/bulk/${bulk.body.bulkId}:cancel`, { json: {} }), 'bulk cancel');
    notFound(await globex('GET', `/v1/batches/${batch.body.batchId}`), 'batch');
    notFound(await globex('GET', `/v1/schedules/${schedId}`), 'schedule');
    for (const action of ['pause', 'resume', 'trigger'])
      notFound(await globex('POST', `/v1/schedules/${schedId}:${action}`), `schedule ${action}`);
    notFound(await globex('DELETE', `/v1/schedules/${schedId}`), 'schedule delete');
    expect((await globex('GET', '/v1/schedules')).text).not.toContain(schedId);
    const dash = await globex('GET', '/v1/dashboard');
    expect(dash.status).toBe(200);
    for (const secret of [running, failed, bulk.body.bulkId, batch.body.batchId, schedId]) expect(dash.text).not.toContain(secret);
    // Its dead-letter count is its own (none), not acme's.
    expect(dash.body.deadLettered).toBe(0);

    // And the owner still sees all of it, untouched by the other tenant's attempts.
    expect((await acme('GET', `/v1/tasks/${running}`)).body.status).toBe('running');
    expect((await acme('GET', `/v1/schedules/${schedId}`)).status).toBe(200);
    const own = await acme('GET', '/v1/dashboard');
    expect(own.body.deadLettered).toBeGreaterThanOrEqual(1);
    await acme('POST', `/v1/tasks/${running}:cancel`, { json: {} });
    await acme('DELETE', `/v1/schedules/${schedId}`);
  });
});

describe('auth bypass attempts', () => {
  const protectedRoutes: [string, string][] = [
    ['GET', '/v1/tasks'],
    ['POST', '/v1/tasks'],
    ['GET', '/v1/tasks/x1'],
    ['GET', '/v1/tasks/x1/logs'],
    ['POST', '/v1/tasks/x1:cancel'],
    ['POST', '/v1/tasks:bulk'],
    ['GET', '/v1/bulk/b1'],
    ['POST', '/v1/batches'],
    ['GET', '/v1/batches/b1'],
    ['GET', '/v1/schedules'],
    ['DELETE', '/v1/schedules/s1'],
    ['GET', '/v1/pools'],
    ['GET', '/v1/dashboard'],
    ['POST', '/codec/decode'],
  ];
  const badAuth: (Record<string, string> | undefined)[] = [
    undefined,
    { authorization: '' },
    { authorization: 'Bearer' },
    { authorization: 'Bearer ' },
    { authorization: `Bearer ${KEYS.acme.toUpperCase()}` },
    { authorization: `Bearer ${KEYS.acme.slice(0, -1)}` },
    { authorization: `Bearer ${KEYS.acme}x` },
    { authorization: `Basic ${Buffer.from(`acme:${KEYS.acme}`).toString('base64')}` },
    { authorization: KEYS.acme },
    { authorization: `Token ${KEYS.acme}` },
    { authorization: `Bearer sha256:${'0'.repeat(64)}` },
    { 'x-api-key': KEYS.acme },
    { cookie: `key=${KEYS.acme}` },
  ];

  it('every protected route refuses a missing, wrong, malformed or misplaced key with 401', async () => {
    for (const [method, path] of protectedRoutes) {
      for (const headers of badAuth) {
        const r = await call(method, path, { ...(headers ? { headers } : {}), ...(method === 'POST' ? { json: {} } : {}) });
        if (r.status !== 401) throw new Error(`${method} ${path} with ${JSON.stringify(headers)} → ${r.status} ${r.text.slice(0, 200)}`);
        expect(r.body.error.type).toBe('Unauthorized');
      }
      // The key in the query string is not a key.
      const q = await call(
        method,
        `${path}?api_key=${KEYS.acme}&key=${KEYS.acme}&access_token=${KEYS.acme}`,
        method === 'POST' ? { json: {} } : {},
      );
      expect(q.status).toBe(401);
    }
  });

  it('path tricks reach no protected route without a key', async () => {
    const tricks = [
      '/v1/tasks/../tasks',
      '/v1/./tasks',
      '//v1/tasks',
      '/V1/TASKS',
      '/v1/tasks/',
      '/v1/tasks%2F..%2Fpools',
      '/v1/%74asks',
      '/healthz/../v1/tasks',
      '/openapi.json/../v1/tasks',
      '/dashboard/..%2F..%2Fpackage.json',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/..%5c..%5cpackage.json',
      '/codec/x/../decode',
      `/codec/${encodeURIComponent('../')}decode`,
      '/v1/tasks;x=1',
      '/v1/tasks\u0000',
    ];
    for (const path of tricks) {
      for (const method of ['GET', 'POST']) {
        const r = await call(method, path.replace('\u0000', '%00'), method === 'POST' ? { json: {} } : {});
        if (r.status < 400) throw new Error(`${method} ${path} → ${r.status} ${r.text.slice(0, 200)}`);
        // Never a file from outside the dashboard's folder.
        expect(r.text).not.toContain('"devDependencies"');
      }
    }
    // The public routes stay public, the key-in-path codec form checks its key.
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('POST', '/codec/not-a-key-at-all/decode', { json: { payloads: [] } })).status).toBe(401);
    expect((await call('POST', `/codec/${KEYS.acme}/decode`, { json: { payloads: [] } })).status).toBe(200);
  });
});

describe('hostile bodies', () => {
  it('oversized, malformed and deeply nested bodies get a clear 4xx and the server stays up', async () => {
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const deepObj = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const cases: [string, Parameters<Caller>[2]][] = [
      ['oversized', { raw: JSON.stringify({ type: 'demo.echo', input: { s: 'x'.repeat(200_000) } }) }],
      ['malformed', { raw: '{"type": "demo.echo", "input": ' }],
      ['not json', { raw: 'type=demo.echo', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['wrong content type', { raw: '{"type":"demo.echo","input":{}}', headers: { 'content-type': 'text/plain' } }],
      ['nested arrays 5k', { raw: `{"type":"demo.echo","input":${nested(5_000)}}` }],
      ['nested arrays 30k (fits the limit)', { raw: `{"type":"demo.echo","input":${nested(30_000)}}` }],
      ['nested objects 10k', { raw: `{"type":"demo.echo","input":${deepObj(10_000)}}` }],
      ['proto pollution', { raw: `{"type":"demo.echo","input":{},"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}` }],
      ['null body', { raw: 'null' }],
      ['array body', { raw: '[]' }],
    ];
    for (const [what, opts] of cases) {
      const r = await acme('POST', '/v1/tasks', opts);
      if (r.status < 400 || r.status >= 500) throw new Error(`${what} → ${r.status} ${r.text.slice(0, 300)}`);
      expect(typeof r.body?.error?.type).toBe('string');
      expect((await call('GET', '/healthz')).status).toBe(200);
    }
    // The same against the bulk route (NDJSON) and a schedule.
    expect((await acme('POST', '/v1/tasks:bulk', { raw: nested(30_000) })).status).toBe(400);
    const deepLine = await acme('POST', '/v1/tasks:bulk', {
      raw: `{"type":"demo.echo","input":${nested(20_000)}}\n`,
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(deepLine.status).toBeLessThan(500);
    expect(
      (await acme('POST', '/v1/schedules', { raw: `{"id":"s1","cron":"* * * * *","type":"demo.echo","input":${nested(20_000)}}` })).status,
    ).toBeLessThan(500);
    expect(api.proc.exitCode).toBeNull();
  });
});

describe('task IDs with odd characters', () => {
  it('are refused with a 400 naming taskId, or round-trip exactly', async () => {
    const odd = [
      'é-unicode',
      'emoji-😀',
      'a/b',
      '../etc/passwd',
      'a..b',
      '..',
      '.',
      'x'.repeat(201),
      'tab\there',
      'nul\u0000x',
      'newline\nx',
      'rtl\u202eabc',
      ' lead',
      '-dash',
      'sq\'l"x',
      'a%2Fb',
      'a?b#c',
    ];
    for (const id of odd) {
      const r = await acme('POST', '/v1/tasks', { json: { type: 'demo.echo', input: {}, taskId: id } });
      if (r.status === 201) {
        const back = await acme('GET', `/v1/tasks/${encodeURIComponent(id)}`);
        expect(back.body.taskId).toBe(id);
        continue;
      }
      if (r.status !== 400) throw new Error(`${JSON.stringify(id)} → ${r.status} ${r.text.slice(0, 200)}`);
      expect(JSON.stringify(r.body.error.details)).toContain('taskId');
      // And the lookups of such an ID are clean 4xx too.
      const get = await acme('GET', `/v1/tasks/${encodeURIComponent(id)}`);
      expect(get.status).toBeGreaterThanOrEqual(400);
      expect(get.status).toBeLessThan(500);
    }
    // A valid ID at the length limit round-trips.
    const long = `L${'x'.repeat(199)}`;
    expect((await acme('POST', '/v1/tasks', { json: { type: 'demo.echo', input: {}, taskId: long } })).status).toBe(201);
    expect((await acme('GET', `/v1/tasks/${long}`)).body.taskId).toBe(long);
  });
});

describe('callback SSRF', () => {
  const activities = () => createCallbackActivities({ secrets: {}, allowlist: [], timeoutMs: 3_000 });
  const refused = async (url: string) => {
    await expect(
      activities().deliverCallback({ taskId: 't', tenant: 'acme', url, payload: { taskId: 't', status: 'succeeded' } }),
      // (a name this resolver does not know fails before any connection: ENOTFOUND)
    ).rejects.toThrow(/private|loopback|refused|credentials|http\(s\)|ENOTFOUND/);
  };

  it('refuses loopback, private, link-local and disguised addresses, and names that resolve to them', async () => {
    sinkHits = [];
    const p = sinkPort;
    for (const url of [
      `http://127.0.0.1:${p}/`,
      `http://localhost:${p}/`,
      `http://LOCALHOST:${p}/`,
      `http://localhost.:${p}/`,
      `http://[::1]:${p}/`,
      `http://[::ffff:127.0.0.1]:${p}/`,
      `http://[::127.0.0.1]:${p}/`,
      `http://[64:ff9b::127.0.0.1]:${p}/`,
      `http://[2002:7f00:1::]:${p}/`,
      `http://0x7f.1:${p}/`,
      `http://2130706433:${p}/`,
      `http://017700000001:${p}/`,
      `http://0.0.0.0:${p}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/',
      'http://192.168.1.1/',
      'http://172.16.0.1/',
      'http://100.64.0.1/',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
      `http://user:pw@example.com/`,
      'file:///etc/passwd',
      'gopher://127.0.0.1:25/',
    ]) {
      await refused(url);
    }
    expect(sinkHits).toEqual([]);
  });

  it('does not follow a redirect to a private address', async () => {
    sinkHits = [];
    // An allowlisted receiver that redirects to the sink (as a public host redirecting inward would).
    const redirector = createServer((_req, res) => {
      res.statusCode = 307;
      res.setHeader('location', `http://127.0.0.1:${sinkPort}/internal`);
      res.end();
    });
    redirector.listen(0, '127.0.0.2');
    await new Promise((r) => redirector.once('listening', r));
    try {
      const port = (redirector.address() as AddressInfo).port;
      const allowed = createCallbackActivities({ secrets: {}, allowlist: ['127.0.0.2'], timeoutMs: 3_000 });
      await expect(
        allowed.deliverCallback({
          taskId: 't',
          tenant: 'acme',
          url: `http://127.0.0.2:${port}/cb`,
          payload: { taskId: 't', status: 'succeeded' },
        }),
      ).rejects.toThrow(/HTTP 307/);
      expect(sinkHits).toEqual([]);
    } finally {
      await new Promise((r) => redirector.close(r));
    }
  });

  it('end to end: a task whose callback names localhost succeeds, and the callback never arrives', async () => {
    sinkHits = [];
    const id = uniqueId('sec-cb');
    const r = await acme('POST', '/v1/tasks', {
      json: { type: 'demo.echo', input: {}, taskId: id, callbackUrl: `http://localhost:${sinkPort}/hook` },
    });
    expect(r.status).toBe(201);
    await waitFor(async () => (await acme('GET', `/v1/tasks/${id}`)).body?.status === 'succeeded', 30_000, 'the task');
    // The callback activity runs after the task: the control worker logs its refusal.
    await waitFor(() => readFileSync(workerLog(), 'utf8').includes('private or loopback'), 30_000, 'the refusal in the control log');
    expect(sinkHits).toEqual([]);
  });
});

describe('logs', () => {
  it('no API key, codec key or payload appears in any API or worker log line', async () => {
    // Traffic that puts the secrets in front of the code: payloads, a failing task, bad keys, the codec route.
    const id = uniqueId('sec-log');
    await acme('POST', '/v1/tasks', { json: { type: 'demo.echo', input: { secret: PAYLOAD }, taskId: id } });
    await acme('POST', '/v1/tasks', {
      json: { type: 'demo.fail', input: { errorClass: 'retryable', times: 1 }, taskId: uniqueId('sec-log-fail') },
    });
    await acme('POST', '/v1/tasks', { json: { type: 'demo.echo', input: { secret: PAYLOAD }, lane: 'nope' } });
    await acme('POST', '/v1/tasks', { json: { type: 'demo.nope', input: { secret: PAYLOAD } } });
    await call('GET', '/v1/tasks', { key: `${KEYS.globex}-wrong` });
    await call('POST', `/codec/${KEYS.globex}/decode`, { json: { payloads: [{ data: 'bm90IGVuY3J5cHRlZA==' }] } });
    await call('POST', `/codec/${KEYS.globex}-bad/decode`, { json: { payloads: [] } });
    await waitFor(async () => (await acme('GET', `/v1/tasks/${id}`)).body?.status === 'succeeded', 30_000, 'the task');
    const logs = readFileSync(api.log, 'utf8') + readFileSync(workerLog(), 'utf8');
    // The logs are really there (debug level), so an empty capture cannot pass this test.
    expect(logs.split('\n').length).toBeGreaterThan(20);
    for (const [what, secret] of [
      ['acme API key', KEYS.acme],
      ['globex API key', KEYS.globex],
      ['codec key', CODEC_KEY],
      ['payload', PAYLOAD],
    ] as const) {
      const line = logs.split('\n').find((l) => l.includes(secret));
      if (line) throw new Error(`${what} in a log line: ${line.slice(0, 300)}`);
    }
    expect(tail(api.log)).not.toContain(KEYS.acme);
  });
});
