import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { parseAdmissionMode } from '../../config/admission';
import { catalog } from '../../examples/demo/catalog';
import { DEMO_CONFIG, expectNoLeakedWorkers, startStack, testAddress, uniqueId, waitFor, type Stack } from '../helpers/stack';
import { listen, type Caller } from './api-helpers';

/**
 * Lane admission across entry paths on the real server: the CLI over HTTP retries 429s and reports
 * only real failures; a second API replica does not double the low lane's start rate, because a
 * bulk's starts are paced where they happen (the control process's intake), not where it was handed in.
 */

jest.setTimeout(180_000);

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
const run = promisify(execFile);
const KEYS = { acme: 'acme-adm-key-001', globex: 'globex-adm-key-02' };
const keys = ApiKeyStore.parse(`acme=${KEYS.acme},globex=${KEYS.globex}`);
/** The control process's low-lane budget in this file: fixed, so rates can be checked exactly. */
const LOW_RATE = 20;

let stack: Stack;
const servers: ApiServer[] = [];
const clients: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  stack = await startStack({ env: { TIDEWAY_ADMISSION: `low=${LOW_RATE}/s,burst=1` } });
}, 120_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const c of clients) await c.close();
  await stack?.stop();
  expectNoLeakedWorkers();
}, 60_000);

/** An API replica with its own TaskClient (its own admission gate), as a second process would have. */
async function replica(admission: string): Promise<{ call: Caller; url: string }> {
  const client = new TaskClient({ client: stack.temporal, catalog, admission: parseAdmissionMode(admission), admissionMaxWaitMs: 1000 });
  clients.push(client);
  const server = await buildApiServer({ client, keys, backpressure: false });
  servers.push(server);
  return listen(server);
}

async function cli(url: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { TIDEWAY_CONFIG: _c, ...inherited } = process.env as Record<string, string>;
  try {
    const r = await run(process.execPath, [CLI, '--config', DEMO_CONFIG, ...args], {
      env: { ...inherited, TEMPORAL_ADDRESS: testAddress(), TIDEWAY_URL: url, TIDEWAY_API_KEY: KEYS.acme, TIDEWAY_LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

it('the CLI over HTTP retries 429s (Retry-After) until accepted, and reports only real failures', async () => {
  // An API whose low lane admits one start per 2 s and waits at most 1 s: concurrent submits get 429.
  const { url } = await replica('low=0.5/s,burst=1');
  const ids = Array.from({ length: 4 }, () => uniqueId('adm-cli'));
  const runs = await Promise.all(ids.map((id) => cli(url, ['submit', 'demo.echo', '{"x":1}', '--lane', 'low', '--id', id])));
  for (const r of runs) expect(r).toMatchObject({ code: 0 });
  // Some submits were refused at least once, and said so on stderr, yet none reported a failure.
  const notes = runs.map((r) => r.stderr).join('\n');
  expect(notes).toMatch(/429 lane_admission: retrying in \d+ s/);
  for (const r of runs) expect(r.stdout).not.toMatch(/error|failed/i);
  for (const id of ids) await waitFor(async () => (await stack.client.describe(id)).status === 'succeeded', 30_000, `${id} ran`);
  // A real failure is reported as one, at once, with no retry.
  const bad = await cli(url, ['submit', 'demo.nope', '{}', '--lane', 'low']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/unknown task type/);
  expect(bad.stderr).not.toMatch(/retrying/);
});

it('a second API replica does not double the low lane: a bulk handed to either is started at the control process rate', async () => {
  const a = await replica('adaptive');
  const b = await replica('adaptive');
  const tag = uniqueId('adm-rep');
  const bulk = (n: number, who: string) => ({
    bulkId: `${tag}-${who}`,
    tasks: Array.from({ length: n }, (_, i) => ({ type: 'demo.echo', input: { i }, lane: 'low' })),
  });
  const [ra, rb] = await Promise.all([
    a.call('POST', '/v1/tasks:bulk', { key: KEYS.acme, json: bulk(200, 'a') }),
    b.call('POST', '/v1/tasks:bulk', { key: KEYS.globex, json: bulk(200, 'b') }),
  ]);
  expect([ra.status, rb.status]).toEqual([202, 202]);
  const query = `WorkflowType = 'runTask' AND (BulkId = '${tag}-a' OR BulkId = '${tag}-b')`;
  await waitFor(async () => (await stack.temporal.workflow.count(query)).count === 400, 90_000, 'all 400 started');
  const starts: number[] = [];
  for await (const w of stack.temporal.workflow.list({ query })) starts.push(w.startTime.getTime());
  starts.sort((x, y) => x - y);
  // The middle 90%: the measured rate of the whole low lane while both bulks were being started.
  const from = starts[Math.floor(starts.length * 0.05)]!;
  const to = starts[Math.floor(starts.length * 0.95)]!;
  const rate = (starts.length * 0.9) / ((to - from) / 1000);
  expect(rate).toBeLessThan(LOW_RATE * 1.25);
  expect(rate).toBeGreaterThan(LOW_RATE * 0.6);
  // And the two tenants shared it: each had started about half while both were going.
  const mid = starts[Math.floor(starts.length / 2)]!;
  const half = async (who: string) => {
    let n = 0;
    for await (const w of stack.temporal.workflow.list({ query: `WorkflowType = 'runTask' AND BulkId = '${tag}-${who}'` })) {
      if (w.startTime.getTime() <= mid) n++;
    }
    return n;
  };
  const [na, nb] = [await half('a'), await half('b')];
  expect(Math.min(na, nb) / (na + nb)).toBeGreaterThan(0.35);
});
