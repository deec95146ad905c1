import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpApiError, HttpTaskClient, type RetryInfo } from '../../api/http-client';
import type { BulkAccepted, BulkStatus } from '../../api/http/schemas';

/**
 * HttpTaskClient and the CLI honour 429 + Retry-After: against a tiny fake API server (real HTTP,
 * no Temporal) that refuses the first requests with 429, the client retries and returns the final
 * answer, reports each retry, and gives up at maxRetryMs; the CLI binary prints the retry notes on
 * stderr and exits 0 with the counts.
 */

jest.setTimeout(60_000);

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
const run = promisify(execFile);
const KEY = 'retry-test-key';

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What the fake server does: how many 429s each path gets first, and what it has seen. */
let plan: { refusals: Map<string, number>; seen: Seen[] };
let server: Server;
let url: string;

function refuse(res: ServerResponse): void {
  res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end(
    JSON.stringify({ error: { type: 'TooManyRequests', message: 'lane low is over its budget', details: { reason: 'lane_admission' } } }),
  );
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    // As a server that refuses a big body mid-upload can look to a client: the connection just ends.
    if (String(req.headers['idempotency-key']).startsWith('reset')) {
      plan.seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: '' });
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      const body = Buffer.concat(chunks).toString('utf8');
      plan.seen.push({ method: req.method ?? '', path, headers: req.headers, body });
      if (req.headers.authorization !== `Bearer ${KEY}`) return json(res, 401, { error: { type: 'Unauthorized', message: 'no key' } });
      const left = plan.refusals.get(path) ?? 0;
      if (left > 0) {
        plan.refusals.set(path, left - 1);
        return refuse(res);
      }
      if (req.method === 'POST' && path === '/v1/tasks:bulk') {
        const items = body
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { taskId?: string });
        const answer: BulkAccepted = {
          bulkId: String(req.headers['idempotency-key']),
          accepted: items.length,
          rejected: 0,
          taskIds: items.map((t, i) => t.taskId ?? `t-${i}`),
          errors: [],
        };
        return json(res, 202, answer);
      }
      if (req.method === 'GET' && path.startsWith('/v1/bulk/')) {
        const polls = plan.seen.filter((s) => s.path === path).length;
        const done = polls >= 2;
        const status: BulkStatus = {
          bulkId: decodeURIComponent(path.slice('/v1/bulk/'.length)),
          tenant: 'acme',
          state: done ? 'completed' : 'running',
          accepted: 2,
          started: done ? 2 : 1,
          duplicate: 0,
          failed: 0,
          cancelled: 0,
          pending: done ? 0 : 1,
          chunks: { total: 1, done: done ? 1 : 0 },
          failures: [],
          acceptedAt: new Date(0).toISOString(),
        };
        return json(res, 200, status);
      }
      if (req.method === 'POST' && path === '/v1/tasks') return json(res, 201, { taskId: 'one', status: 'queued' });
      json(res, 404, { error: { type: 'NotFound', message: `no route ${path}` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  plan = { refusals: new Map(), seen: [] };
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const items = [
  { type: 'demo.echo', input: { n: 1 }, taskId: 'a-1', lane: 'low' },
  { type: 'demo.echo', input: { text: 'two\nlines' }, taskId: 'a-2', lane: 'low' },
];

test('submitMany retries 429 after Retry-After with the same bulk ID, and returns the final answer', async () => {
  plan.refusals.set('/v1/tasks:bulk', 2);
  const retries: RetryInfo[] = [];
  const client = new HttpTaskClient({ url, apiKey: KEY, onRetry: (i) => retries.push(i) });
  const t0 = Date.now();
  const r = await client.submitMany(items, { bulkId: 'bulk-retry-1' });
  const elapsed = Date.now() - t0;

  expect(r).toEqual({ bulkId: 'bulk-retry-1', accepted: 2, rejected: 0, taskIds: ['a-1', 'a-2'], errors: [] });
  expect(retries.map((i) => ({ attempt: i.attempt, reason: i.reason, path: i.path }))).toEqual([
    { attempt: 1, reason: '429 lane_admission', path: '/v1/tasks:bulk' },
    { attempt: 2, reason: '429 lane_admission', path: '/v1/tasks:bulk' },
  ]);
  for (const i of retries) expect(i.waitMs).toBeGreaterThanOrEqual(1000);
  expect(elapsed).toBeGreaterThanOrEqual(2000);
  // Three tries, each the same NDJSON body under the same Idempotency-Key.
  expect(plan.seen).toHaveLength(3);
  for (const s of plan.seen) {
    expect(s.headers['content-type']).toBe('application/x-ndjson');
    expect(s.headers['idempotency-key']).toBe('bulk-retry-1');
    expect(
      s.body
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual(items);
  }
});

test('a bulk without a bulk ID gets one, kept across retries', async () => {
  plan.refusals.set('/v1/tasks:bulk', 1);
  const r = await new HttpTaskClient({ url, apiKey: KEY }).submitMany(items);
  expect(r.bulkId).toMatch(/^bulk-[0-9a-f-]{36}$/);
  expect(plan.seen.map((s) => s.headers['idempotency-key'])).toEqual([r.bulkId, r.bulkId]);
});

test('maxRetryMs bounds the retries: then the 429 is thrown', async () => {
  plan.refusals.set('/v1/tasks:bulk', 100);
  const retries: RetryInfo[] = [];
  const client = new HttpTaskClient({ url, apiKey: KEY, maxRetryMs: 1500, onRetry: (i) => retries.push(i) });
  const t0 = Date.now();
  const err = await client.submitMany(items).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HttpApiError);
  expect(err).toMatchObject({ status: 429, type: 'TooManyRequests', retryAfterSeconds: 1 });
  // One retry fits in 1.5 s; the second would end after it, so the client stops without waiting.
  expect(retries).toHaveLength(1);
  expect(plan.seen).toHaveLength(2);
  expect(Date.now() - t0).toBeLessThan(2500);
});

test('a big bulk body whose connection keeps being reset is retried, then reported as 413', async () => {
  const retries: RetryInfo[] = [];
  const client = new HttpTaskClient({ url, apiKey: KEY, onRetry: (i) => retries.push(i) });
  const big = Array.from({ length: 300 }, (_, i) => ({ type: 'demo.echo', input: { pad: 'x'.repeat(4000) }, taskId: `big-${i}` }));
  const err = await client.submitMany(big, { bulkId: 'reset-big' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HttpApiError);
  expect(err).toMatchObject({ status: 413, type: 'PayloadTooLarge' });
  expect(retries.map((i) => i.reason)).toEqual([expect.stringMatching(/^connection reset/), expect.stringMatching(/^connection reset/)]);
  expect(plan.seen).toHaveLength(3);
});

describe('the CLI binary over HTTP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-http-retry-'));
  const file = join(dir, 'tasks.ndjson');
  writeFileSync(file, [JSON.stringify(items[0]), '{not json', JSON.stringify(items[1])].join('\n'));

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const { TIDEWAY_URL: _u, TIDEWAY_API_KEY: _k, TIDEWAY_CONFIG: _c, ...inherited } = process.env;
    try {
      const r = await run(process.execPath, [CLI, ...args], {
        env: { ...inherited, TIDEWAY_URL: url, TIDEWAY_API_KEY: KEY },
        timeout: 30_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  test('bulk <file> prints the retry notes on stderr and exits 0 with the counts', async () => {
    plan.refusals.set('/v1/tasks:bulk', 2);
    const r = await cli(['bulk', file, '--bulk-id', 'cli-bulk-1']);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      '429 lane_admission: retrying in 1 s (attempt 1)',
      '429 lane_admission: retrying in 1 s (attempt 2)',
    ]);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[0]).toBe('bulk cli-bulk-1: 2 accepted, 1 rejected');
    expect(out[1]).toMatch(/^LINE\s+STATUS\s+TYPE\s+ERROR$/);
    expect(out[2]).toMatch(/^2\s+400\s+InvalidJson\s+not valid JSON/);
    // The bad line was never sent: one NDJSON line per good task.
    expect(plan.seen.at(-1)!.body.trimEnd().split('\n')).toHaveLength(2);
  });

  test('bulk --wait follows the bulk to the end (a 429 on the status poll is retried too)', async () => {
    plan.refusals.set('/v1/bulk/cli-bulk-2', 1);
    const r = await cli(['bulk', file, '--bulk-id', 'cli-bulk-2', '--wait', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('429 lane_admission: retrying in 1 s (attempt 1)');
    expect(r.stderr).toContain('[##############################] 100% 2/2');
    expect(JSON.parse(r.stdout)).toMatchObject({
      bulkId: 'cli-bulk-2',
      accepted: 2,
      rejected: 1,
      status: { state: 'completed', started: 2 },
    });
  });

  test('submit retries a 429 with a note on stderr', async () => {
    plan.refusals.set('/v1/tasks', 1);
    const r = await cli(['submit', 'demo.echo', '{"n":1}', '--lane', 'low']);
    expect(r).toEqual({ code: 0, stdout: 'one queued\n', stderr: '429 lane_admission: retrying in 1 s (attempt 1)\n' });
  });
});
