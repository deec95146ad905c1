import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { HttpTaskClient } from '../../api/http-client';
import { startApiServer, type RunningApi } from '../../api/http/start';
import { TaskClient, type TaskLogLine } from '../../api/task-client';
import { loadProject } from '../../config/load';
import { loadSettings } from '../../config/settings';
import { FileTaskLogStore } from '../../config/task-log-file';
import { catalog, type Tasks } from '../../examples/demo/catalog';
import { DEMO_CONFIG, testAddress, uniqueId, useStack, waitFor, type Stack } from '../helpers/stack';

/**
 * Task logs end to end: a handler's `ctx.log` lines from two attempts on two pool processes (the
 * first killed mid-attempt) are read back, in order and with attempt numbers and worker pids,
 * through TaskClient, `GET /v1/tasks/{id}/logs`, HttpTaskClient and the real CLI in both modes;
 * `tideway logs --follow` runs until the task finishes.
 */

jest.setTimeout(180_000);

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
const run = promisify(execFile);
const RUN = randomBytes(3).toString('hex');
const TENANT = `logs-${RUN}`;
const KEY = `logs-key-${RUN}`;
const OTHER_KEY = `logs-other-key-${RUN}`;
const dataDir = mkdtempSync(join(tmpdir(), 'tideway-logs-'));

// No pools at start: each test places its attempts on the pool processes it spawns. Info level, so
// the pool's own (pino) log carries the task lines too.
const stack: Stack = useStack({ pools: [], env: { TIDEWAY_DATA_DIR: dataDir, TIDEWAY_LOG_LEVEL: 'info' } });
let client: TaskClient<Tasks>;
let api: RunningApi;
let cliEnv: Record<string, string>;

beforeAll(async () => {
  const {
    TIDEWAY_URL: _u,
    TIDEWAY_API_KEY: _k,
    TIDEWAY_API_KEYS: _ks,
    TIDEWAY_API_KEYS_FILE: _kf,
    TIDEWAY_APP: _a,
    ...inherited
  } = process.env as Record<string, string>;
  cliEnv = { ...inherited, TEMPORAL_ADDRESS: testAddress(), TIDEWAY_LOG_LEVEL: 'warn', TIDEWAY_DATA_DIR: dataDir };
  client = new TaskClient({
    client: stack.temporal,
    catalog,
    admission: { kind: 'off' },
    taskLogs: new FileTaskLogStore({ dir: join(dataDir, 'task-logs') }),
  });
  const project = await loadProject({ config: DEMO_CONFIG, env: cliEnv });
  api = await startApiServer({
    project,
    address: testAddress(),
    port: 0,
    host: '127.0.0.1',
    settings: loadSettings({ ...project.env, TIDEWAY_API_KEYS: `${TENANT}=${KEY},other-${RUN}=${OTHER_KEY}` }),
    say: () => {},
  });
});

afterAll(async () => {
  await api?.close();
  await client?.close();
});

/** Runs the real CLI: direct mode over Temporal as TENANT, or over the HTTP API with TENANT's key. */
async function cli(mode: 'direct' | 'http', args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = mode === 'http' ? { ...cliEnv, TIDEWAY_URL: api.url, TIDEWAY_API_KEY: KEY } : cliEnv;
  return run(process.execPath, [CLI, '--config', DEMO_CONFIG, ...args, ...(mode === 'direct' ? ['--tenant', TENANT] : [])], {
    env,
    timeout: 60_000,
  });
}

/** `logs --follow` as a live process: resolves when it exits by itself. */
function follow(mode: 'direct' | 'http', id: string): Promise<{ code: number | null; stdout: string; stderr: string; exitedAt: number }> {
  const env = mode === 'http' ? { ...cliEnv, TIDEWAY_URL: api.url, TIDEWAY_API_KEY: KEY } : cliEnv;
  const tenant = mode === 'direct' ? ['--tenant', TENANT] : [];
  const child = spawn(process.execPath, [CLI, '--config', DEMO_CONFIG, 'logs', id, '--follow', ...tenant], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return once(child, 'exit').then(([code]) => {
    clearTimeout(killer);
    return { code: code as number | null, stdout, stderr, exitedAt: Date.now() };
  });
}

const attemptsAndPids = (lines: TaskLogLine[]) => [...new Map(lines.map((l) => [`${l.attempt}:${l.pid}`, [l.attempt, l.pid]])).values()];

test('a task killed on one worker and finished on another: both attempts’ lines, in order, everywhere', async () => {
  const first = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
  const id = uniqueId('logs-kill');
  await client.submit('demo.sleep', { ms: 4_000 }, { taskId: id, tenant: TENANT });
  // Attempt 1 has logged its start and some progress: then its worker dies.
  await waitFor(async () => (await client.logs(id)).lines.some((l) => l.msg.startsWith('slept')), 30_000, 'attempt 1 progress');
  await first.kill();
  const second = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
  await expect(client.result(id)).resolves.toMatchObject({ sleptMs: expect.any(Number) });

  // TaskClient
  const all = await client.logs(id, { limit: 1000 });
  expect(all.status).toBe('succeeded');
  expect(all.truncated).toBe(false);
  expect(attemptsAndPids(all.lines)).toEqual([
    [1, first.pid],
    [2, second.pid],
  ]);
  const a1 = all.lines.filter((l) => l.attempt === 1);
  const a2 = all.lines.filter((l) => l.attempt === 2);
  expect(a1[0]!.msg).toBe('sleeping 4000 ms');
  expect(a1.at(-1)!.msg).toMatch(/^slept \d+ of 4000 ms$/); // cut off by the kill
  expect(a2[0]!.msg).toBe('sleeping 4000 ms');
  expect(a2.at(-1)!.msg).toMatch(/^done after \d+ ms$/);
  for (const l of all.lines) expect(l).toMatchObject({ taskId: id, type: 'demo.sleep', tenant: TENANT, lane: 'normal', level: 'info' });
  const times = all.lines.map((l) => Date.parse(l.ts));
  expect(times).toEqual([...times].sort((x, y) => x - y));

  // The pool's own structured log carries the same lines with the task ID as a field.
  const poolLog = readFileSync(join(dirname(stack.ledger), 'workers.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"task:log"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.taskId === id);
  expect(poolLog.map((l) => l.msg)).toEqual(all.lines.map((l) => l.msg));
  expect(poolLog[0]).toMatchObject({ name: 'tideway-pool', attempt: 1, type: 'demo.sleep', tenant: TENANT, pid: first.pid });

  // HTTP: the same lines, page by page with the cursor; another tenant's key sees no such task.
  const get = (path: string, key = KEY) => fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const whole = await get(`/v1/tasks/${id}/logs`);
  expect(whole.status).toBe(200);
  expect(await whole.json()).toEqual(JSON.parse(JSON.stringify(all)));
  const paged: TaskLogLine[] = [];
  for (let after = ''; ;) {
    const r = (await (await get(`/v1/tasks/${id}/logs?limit=2${after ? `&after=${after}` : ''}`)).json()) as {
      lines: TaskLogLine[];
      next: string;
    };
    if (r.lines.length === 0) break;
    paged.push(...r.lines);
    after = r.next;
  }
  expect(paged).toEqual(all.lines);
  const other = await get(`/v1/tasks/${id}/logs`, OTHER_KEY);
  expect(other.status).toBe(404);
  expect(((await other.json()) as { error: { type: string } }).error.type).toBe('TaskNotFound');

  // HttpTaskClient
  const http = new HttpTaskClient({ url: api.url, apiKey: KEY });
  expect(await http.logs(id, { limit: 1000 })).toEqual(all);

  // The CLI as a real process, direct and over HTTP: the same text, one line per log line.
  const direct = await cli('direct', ['logs', id]);
  const overHttp = await cli('http', ['logs', id]);
  expect(overHttp.stdout).toBe(direct.stdout);
  const printed = direct.stdout.trim().split('\n');
  expect(printed).toHaveLength(all.lines.length);
  expect(printed[0]).toMatch(new RegExp(`info +attempt 1 +pid ${first.pid}@\\S+ +sleeping 4000 ms +\\{"ms":4000\\}$`));
  expect(printed.at(-1)).toMatch(new RegExp(`attempt 2 +pid ${second.pid}@\\S+ +done after \\d+ ms`));
  const json = (await cli('http', ['logs', id, '--json'])).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TaskLogLine);
  expect(json).toEqual(all.lines);
});

test('tideway logs --follow prints lines as they come and exits when the task finishes', async () => {
  // A pool for this test (the first test's pools may be gone or draining).
  await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
  const sleepId = uniqueId('logs-follow');
  const failId = uniqueId('logs-follow-fail');
  await client.submit('demo.sleep', { ms: 3_000 }, { taskId: sleepId, tenant: TENANT });
  await client.submit('demo.fail', { errorClass: 'retryable', times: 1 }, { taskId: failId, tenant: TENANT });
  const [overHttp, direct] = await Promise.all([follow('http', sleepId), follow('direct', failId)]);

  expect(overHttp.code).toBe(0);
  expect(overHttp.stdout).toMatch(/sleeping 3000 ms/);
  expect(overHttp.stdout.trim().split('\n').at(-1)).toMatch(/done after \d+ ms/);
  expect(overHttp.stderr).toContain(`${sleepId} is succeeded`);
  // It ran until the task was done, not just once.
  const finishedAt = Date.parse((await client.get(sleepId)).timestamps.finishedAt ?? '');
  expect(overHttp.exitedAt).toBeGreaterThanOrEqual(finishedAt);

  expect(direct.code).toBe(0);
  const lines = direct.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/warn +attempt 1 .* attempt 1 fails as planned \(retryable\)/);
  expect(lines.at(-1)).toMatch(/info +attempt 2 .* attempt 2 succeeds$/);
  expect(direct.stderr).toContain(`${failId} is succeeded`);
});
