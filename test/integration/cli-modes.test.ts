import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startApiServer, type RunningApi } from '../../api/http/start';
import { loadProject } from '../../config/load';
import { loadSettings } from '../../config/settings';
import { DEMO_CONFIG, testAddress, useStack } from '../helpers/stack';

/**
 * Every task verb behaves the same in both CLI modes: the real CLI (`node dist/cli/index.js`) runs
 * one scenario directly over Temporal (`--tenant`) and once over the HTTP API (TIDEWAY_URL, the
 * key's tenant), against real worker processes, and the transcripts (exit code, stdout, stderr of
 * every call, IDs and times normalised) must be equal. The same argv is used in both runs, `--tenant`
 * included: over HTTP it must be ignored (the transcript would show the other tenant otherwise).
 */

jest.setTimeout(600_000);

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
const run = promisify(execFile);
const RUN = randomBytes(3).toString('hex');
const KEY = `cli-modes-key-${RUN}`;

interface Mode {
  name: 'direct' | 'http';
  /** Task ID prefix of this run (task IDs are global; equal length in both runs). */
  prefix: string;
  /** The tenant this run acts as. */
  tenant: string;
  env: Record<string, string>;
}

interface Call {
  step: string;
  code: number;
  stdout: string;
  stderr: string;
}

// Pools for the high and normal lanes only: a low-lane task stays queued, so pause/resume/cancel
// and the batch see a task in a known state.
useStack({
  pools: [
    ['demo', 'high'],
    ['demo', 'normal'],
  ],
});
let api: RunningApi;
let baseEnv: Record<string, string>;
const dataDir = mkdtempSync(join(tmpdir(), 'tideway-cli-modes-'));

beforeAll(async () => {
  const {
    TIDEWAY_URL: _u,
    TIDEWAY_API_KEY: _k,
    TIDEWAY_CONFIG: _c,
    TIDEWAY_APP: _a,
    TIDEWAY_API_KEYS: _ks,
    TIDEWAY_API_KEYS_FILE: _kf,
    ...inherited
  } = process.env as Record<string, string>;
  baseEnv = { ...inherited, TEMPORAL_ADDRESS: testAddress(), TIDEWAY_LOG_LEVEL: 'warn', TIDEWAY_DATA_DIR: dataDir };
  const project = await loadProject({ config: DEMO_CONFIG, env: baseEnv });
  api = await startApiServer({
    project,
    address: testAddress(),
    port: 0,
    host: '127.0.0.1',
    settings: loadSettings({ ...project.env, TIDEWAY_API_KEYS: `cm-h-${RUN}=${KEY}` }),
    say: () => {},
  });
});

afterAll(async () => {
  await api?.close();
});

/** Runs the CLI; a non-zero exit is a result like any other. */
async function cli(m: Mode, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, '--config', DEMO_CONFIG, ...args], {
      env: { ...baseEnv, ...m.env },
      timeout: 120_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** This run's IDs, tenant, times, UUIDs and page tokens replaced by placeholders. */
function normalise(m: Mode, text: string): string {
  return text
    .replaceAll(m.prefix, '<id>')
    .replaceAll(m.tenant, '<tenant>')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<time>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/"nextPageToken": "[^"]*"/g, '"nextPageToken": "<token>"')
    .replace(/--page-token \S+/g, '--page-token <token>');
}

/** The scenario, run once per mode; returns its normalised transcript. */
async function scenario(m: Mode): Promise<{ calls: Call[]; catalogSchedules: string[]; otherTenant: unknown }> {
  const calls: Call[] = [];
  const P = m.prefix;
  const T = ['--tenant', `cm-d-${RUN}`];
  const record = (step: string, r: { code: number; stdout: string; stderr: string }, text = (s: string) => s) => {
    calls.push({ step, code: r.code, stdout: text(normalise(m, r.stdout)), stderr: text(normalise(m, r.stderr)) });
    return r;
  };
  const step = async (name: string, args: string[]) => record(name, await cli(m, args));
  /** Repeats a call until `done` holds for its parsed stdout, then records the last answer. */
  const until = async (name: string, args: string[], done: (out: unknown) => boolean, text?: (s: string) => string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await cli(m, args);
      let out: unknown;
      try {
        out = JSON.parse(r.stdout);
      } catch {
        out = undefined;
      }
      if (r.code === 0 && done(out)) return record(name, r, text);
      if (Date.now() > deadline) throw new Error(`${m.name}: ${name} never got there; last: ${r.stdout}${r.stderr}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  };
  const status = (s: string) => (o: unknown) => (o as { status?: string } | undefined)?.status === s;

  // submit, duplicate, --wait, get
  await step('submit --wait --json', ['submit', 'demo.echo', '{"n":1}', '--id', `${P}-echo`, ...T, '--wait', '--json']);
  await step('submit duplicate', ['submit', 'demo.echo', '{"n":1}', '--id', `${P}-echo`, ...T, '--json']);
  await step('submit --wait text', ['submit', 'demo.echo', '{"n":2}', '--id', `${P}-echo2`, '--lane', 'high', ...T, '--wait']);
  await step('submit text', ['submit', 'demo.echo', '--id', `${P}-echo3`, ...T]);
  await step('get --json', ['get', `${P}-echo`, ...T, '--json']);
  await step('get text', ['get', `${P}-echo2`, ...T]);

  // list (visibility is eventually consistent: wait until it shows the three finished tasks)
  const listed = (o: unknown) => {
    const tasks = (o as { tasks?: { status?: string }[] } | undefined)?.tasks ?? [];
    return tasks.length === 3 && tasks.every((t) => t.status === 'succeeded');
  };
  await until('list --json', ['list', '--type', 'demo.echo', ...T, '--json'], listed);
  await step('list text', ['list', '--type', 'demo.echo', '--lane', 'normal', ...T]);
  const page1 = await step('list page 1', ['list', '--type', 'demo.echo', '--limit', '2', ...T, '--json']);
  const token = (JSON.parse(page1.stdout) as { nextPageToken?: string }).nextPageToken ?? 'none';
  await step('list page 2', ['list', '--type', 'demo.echo', '--limit', '2', '--page-token', token, ...T, '--json']);
  // --tenant picks the tenant in direct mode only (compared apart: here the modes differ on purpose).
  const otherTenant = JSON.parse(
    normalise(m, (await cli(m, ['list', '--type', 'demo.echo', '--tenant', `other-${RUN}`, '--json'])).stdout),
  );

  // errors: the same message and exit code in both modes
  await step('get unknown', ['get', `${P}-nope`, ...T]);
  await step('get bad id', ['get', 'bad id!', ...T]);
  await step('get bad tenant', ['get', `${P}-echo`, '--tenant', 'bad tenant!']);
  await step('submit unknown type', ['submit', 'demo.nope', ...T]);
  await step('submit bad input', ['submit', 'demo.sleep', '{"ms":"x"}', ...T]);
  await step('submit bad delay', ['submit', 'demo.echo', '--delay', 'soon', ...T]);
  await step('submit bad JSON', ['submit', 'demo.echo', '{nope', ...T]);
  await step('submit bad id', ['submit', 'demo.echo', '--id', 'a..b', ...T]);
  await step('list bad type', ['list', '--type', 'x"y', ...T]);
  await step('resume finished', ['resume', `${P}-echo`, ...T]);
  await step('redrive live', ['redrive', `${P}-echo`, '--lane', 'high', ...T]);
  await step('discard finished', ['discard', `${P}-echo`, ...T]);

  // pause, resume, cancel a task that waits in the (unserved) low lane
  await step('submit low', ['submit', 'demo.sleep', '{"ms":600000}', '--id', `${P}-sleep`, '--lane', 'low', ...T, '--json']);
  await step('pause', ['pause', `${P}-sleep`, ...T]);
  await until('paused', ['get', `${P}-sleep`, ...T, '--json'], status('paused'));
  await step('resume', ['resume', `${P}-sleep`, ...T]);
  await until('resumed', ['get', `${P}-sleep`, ...T, '--json'], (o) => status('queued')(o) && !(o as { paused: boolean }).paused);
  await step('cancel', ['cancel', `${P}-sleep`, ...T]);
  await until('cancelled', ['get', `${P}-sleep`, ...T, '--json'], status('cancelled'));
  await step('cancel twice', ['cancel', `${P}-sleep`, ...T]);

  // dead letters: redrive on another lane, discard, and --wait on a task that ends failed
  await step('submit failing', ['submit', 'demo.fail', '{"errorClass":"non_retryable","times":1}', '--id', `${P}-dl`, ...T, '--json']);
  await until('dead-lettered', ['get', `${P}-dl`, ...T, '--json'], status('dead_lettered'));
  await step('redrive', ['redrive', `${P}-dl`, '--lane', 'high', ...T]);
  await until('redriven', ['get', `${P}-dl`, ...T, '--json'], status('succeeded'));
  await step('submit failing 2', ['submit', 'demo.fail', '{"errorClass":"non_retryable","times":9}', '--id', `${P}-dl2`, ...T]);
  await until('dead-lettered 2', ['get', `${P}-dl2`, ...T, '--json'], status('dead_lettered'));
  await step('discard', ['discard', `${P}-dl2`, ...T]);
  await until('discarded', ['get', `${P}-dl2`, ...T, '--json'], status('failed'));
  await step('discard twice', ['discard', `${P}-dl2`, ...T]);
  await step('submit --wait failed', [
    'submit',
    'demo.flaky',
    '{"errorClass":"non_retryable","times":9}',
    '--id',
    `${P}-flaky`,
    ...T,
    '--wait',
  ]);

  // bulk: accepted, duplicate, bad JSON, unknown type, bad input
  const file = join(dataDir, `${m.name}.jsonl`);
  writeFileSync(
    file,
    [
      JSON.stringify({ type: 'demo.echo', input: { b: 1 }, taskId: `${P}-b1` }),
      JSON.stringify({ type: 'demo.echo', input: { n: 1 }, taskId: `${P}-echo` }),
      '{not json',
      JSON.stringify({ type: 'demo.nope', input: {} }),
      JSON.stringify({ type: 'demo.sleep', input: { ms: -1 } }),
    ].join('\n'),
  );
  await step('bulk --json', ['bulk', file, ...T, '--json']);
  await step('bulk text', ['bulk', file, ...T]);

  // batch: cancel two queued low-lane tasks
  for (const n of [1, 2])
    await step(`submit batch ${n}`, ['submit', 'demo.sleep', '{"ms":600000}', '--id', `${P}-bs${n}`, '--lane', 'low', ...T]);
  await until(
    'batch targets listed',
    ['list', '--type', 'demo.sleep', '--status', 'queued', ...T, '--json'],
    (o) => (o as { tasks: unknown[] }).tasks.length === 2,
  );
  const started = await step('batch cancel --wait', [
    'batch',
    'cancel',
    '--type',
    'demo.sleep',
    '--status',
    'queued',
    '--wait',
    ...T,
    '--json',
  ]);
  const batchId = (JSON.parse(started.stdout) as { batchId: string }).batchId;
  await step('batch status', ['batch', 'status', batchId, ...T, '--json']);
  await step('batch status unknown', ['batch', 'status', `tw-batch.${m.tenant}.nope`, ...T]);
  await until('batch cancelled', ['get', `${P}-bs2`, ...T, '--json'], status('cancelled'));

  // schedules (the tenant's; direct mode also lists the catalog's, compared apart)
  await step('schedules create', ['schedules', 'create', 'nightly', '0 3 * * *', 'demo.echo', '{"a":1}', '--paused', ...T, '--json']);
  await step('schedules create again', ['schedules', 'create', 'nightly', '0 3 * * *', 'demo.echo', ...T]);
  await step('schedules create bad cron', ['schedules', 'create', 'weekly', 'not a cron', 'demo.echo', ...T]);
  await step('schedules create bad id', ['schedules', 'create', 'Weekly!', '0 3 * * *', 'demo.echo', ...T]);
  const catalogSchedules: string[] = [];
  const own = (s: string) => {
    if (!s) return s;
    const rows = JSON.parse(s) as { scheduleId: string }[];
    catalogSchedules.push(...rows.filter((r) => r.scheduleId.startsWith('tideway.')).map((r) => r.scheduleId));
    return JSON.stringify(
      rows.filter((r) => !r.scheduleId.startsWith('tideway.')),
      null,
      2,
    );
  };
  await until(
    'schedules list --json',
    ['schedules', 'list', ...T, '--json'],
    (o) => (o as { id: string }[]).some((x) => x.id === 'nightly'),
    own,
  );
  for (const a of ['pause', 'resume', 'trigger', 'delete']) await step(`schedules ${a}`, ['schedules', a, 'nightly', ...T]);
  await step('schedules delete again', ['schedules', 'delete', 'nightly', ...T]);

  // pools: the same rows (live numbers aside)
  const pools = await cli(m, ['pools', '--json']);
  const live = new Set(['backlog', 'backlogAgeMs', 'addRate', 'dispatchRate']);
  record('pools --json', pools, (s) =>
    s ? JSON.stringify(JSON.parse(s), (k, v: unknown) => (live.has(k) && v !== null ? '<n>' : v), 2) : s,
  );
  record('pools text', await cli(m, ['pools']), (s) => s.replace(/(\d+(\.\d+)?(ms|s|m|h|d)?)+/g, '<n>').replace(/ +/g, ' '));
  return { calls, catalogSchedules, otherTenant };
}

test('every task verb gives the same answers directly over Temporal and over the HTTP API', async () => {
  const direct = await scenario({ name: 'direct', prefix: `cmd-${RUN}`, tenant: `cm-d-${RUN}`, env: {} });
  const http = await scenario({
    name: 'http',
    prefix: `cmh-${RUN}`,
    tenant: `cm-h-${RUN}`,
    env: { TIDEWAY_URL: api.url, TIDEWAY_API_KEY: KEY },
  });

  // Not vacuous: the scenario did what it says in direct mode.
  const by = (name: string) => direct.calls.find((c) => c.step === name)!;
  expect(JSON.parse(by('submit --wait --json').stdout)).toEqual({
    taskId: '<id>-echo',
    status: 'queued',
    duplicate: false,
    result: { n: 1 },
  });
  expect(JSON.parse(by('submit duplicate').stdout)).toMatchObject({ duplicate: true, status: 'succeeded' });
  expect(JSON.parse(by('get --json').stdout)).toMatchObject({ taskId: '<id>-echo', tenant: '<tenant>', status: 'succeeded' });
  expect(direct.otherTenant).toEqual({ tasks: [] });
  expect(http.otherTenant).toEqual(JSON.parse(http.calls.find((c) => c.step === 'list --json')!.stdout));
  expect(by('get unknown')).toMatchObject({ code: 1, stderr: 'error [TaskNotFound]: no task with ID "<id>-nope"\n' });
  expect(JSON.parse(by('redriven').stdout)).toMatchObject({ status: 'succeeded', lane: 'high', redrives: 1, attempts: 2 });
  expect(by('submit --wait failed')).toMatchObject({
    code: 1,
    stderr: expect.stringMatching(/^error \[TaskFailed\]: task <id>-flaky failed/),
  });
  expect(JSON.parse(by('bulk --json').stdout)).toMatchObject({ accepted: 2, rejected: 3 });
  expect(JSON.parse(by('batch status').stdout)).toMatchObject({ operation: 'cancel', state: 'completed', total: 2 });
  expect(by('schedules delete again')).toMatchObject({ code: 1 });
  expect(JSON.parse(by('pools --json').stdout).pools).toContainEqual(
    expect.objectContaining({ taskQueue: 'tideway.demo.low', replicas: null, maxBacklog: 10_000, overloaded: false }),
  );
  // The catalog's schedules are direct mode's alone (no route shows them to a tenant).
  expect(direct.catalogSchedules).toContain('tideway.demo.nightly-echo');
  expect(http.catalogSchedules).toEqual([]);

  // The point: call by call, the same exit code, output and errors.
  expect(http.calls).toEqual(direct.calls);
});
