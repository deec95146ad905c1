// End-to-end test of the media app with real parts: `tideway dev` (embedded Temporal dev server,
// control worker, scaler, pool processes, HTTP API) and the app's endpoint (src/server.ts), both as
// child processes on free ports with a temporary data folder. Run with `npm test`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createJiti } from 'jiti';
import { APP_DIR, TIDEWAY_BIN, startMediaServer, startTidewayDev } from '../scripts/stack.mjs';

const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What the handler computes, from the same module the pools run (loaded with jiti, as they do).
const jiti = createJiti(import.meta.url);
const { renderThumbnail, thumbnailTaskId } = await jiti.import('../src/thumbnail.ts');

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Polls `fn` until it returns something truthy; fails after `timeoutMs` with the last value seen. */
async function until(what, fn, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await sleep(intervalMs);
  }
}

let dataDir;
let env;
let dev;
let server;
const apiKey = `e2e-${randomBytes(12).toString('hex')}`;

/** HTTP with a bounded wait; returns { status, headers, body (parsed JSON or text) }. */
async function http(method, url, { body, headers = {} } = {}) {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const app = (path, opts) => http(opts?.body !== undefined ? 'POST' : 'GET', `${server.url}${path}`, opts);

/** The `tideway` CLI against the same project and dev server, as a team member would run it. */
async function tideway(...args) {
  const { stdout } = await run(process.execPath, [TIDEWAY_BIN, '--config', 'tideway.config.ts', ...args], {
    cwd: APP_DIR,
    env,
    timeout: 60_000,
  });
  return stdout;
}

/** Waits for a thumbnail task to reach one of `statuses` through the app's GET endpoint. */
async function waitForStatus(taskId, statuses, timeoutMs = 60_000) {
  return until(
    `task ${taskId} reaches ${statuses.join('|')}`,
    async () => {
      const r = await app(`/thumbnails/${taskId}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if (statuses.includes(r.body.status)) return r.body;
      // A thumbnail that failed for good will not succeed later: stop early with what happened.
      if (['dead_lettered', 'failed', 'expired', 'cancelled'].includes(r.body.status)) {
        assert.fail(`task ${taskId} ended ${r.body.status}: ${JSON.stringify(r.body)}`);
      }
      return undefined;
    },
    timeoutMs,
  );
}

before(
  async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'media-app-e2e-'));
    const { TEMPORAL_ADDRESS: _a, TIDEWAY_CONFIG: _c, TIDEWAY_URL: _u, TIDEWAY_API_KEY: _k, TIDEWAY_APP: _p, ...base } = process.env;
    env = {
      ...base,
      TIDEWAY_HEADLESS: '1',
      TIDEWAY_TEMPORAL_PORT: String(await freePort()),
      TIDEWAY_UI_PORT: String(await freePort()),
      TIDEWAY_PORT: '0',
      TIDEWAY_DATA_DIR: join(dataDir, 'tideway'),
      TIDEWAY_LOG_LEVEL: 'warn',
      TIDEWAY_SCALER_INTERVAL: '2s',
      MEDIA_APP_API_KEY: apiKey,
      MEDIA_APP_PORT: '0',
      MEDIA_STORE_DIR: join(dataDir, 'store'),
    };
    dev = await startTidewayDev({ env, timeoutMs: 180_000 });
    server = await startMediaServer({ env, timeoutMs: 60_000 });
  },
  { timeout: 300_000 },
);

after(
  async () => {
    // Stop everything, then check that nothing either of them started is still running.
    const stopped = [];
    if (server) stopped.push(['media-app server', await server.stop(15_000)]);
    if (dev) stopped.push(['tideway dev', await dev.stop(90_000)]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    for (const [label, s] of stopped) {
      assert.equal(s.leaked, false, `${label} (or a process it started) was still running after SIGTERM and was killed`);
      assert.ok(s.exit === 0 || s.exit === 'SIGTERM', `${label} exited with ${s.exit}`);
    }
  },
  { timeout: 150_000 },
);

// If the runner itself is killed mid-way, take the process groups down with it.
process.on('exit', () => {
  server?.killGroup();
  dev?.killGroup();
});

describe('media app on Tideway', { timeout: 240_000 }, () => {
  it('starts with the API key from the environment (no dev key printed)', () => {
    assert.ok(dev.apiUrl, `no HTTP API line in:\n${dev.tail()}`);
    assert.equal(dev.devApiKey, undefined, 'tideway dev made a key although MEDIA_APP_API_KEY configured one');
  });

  it('POST /thumbnails runs media.thumbnail on a media pool and returns what the handler computes', async () => {
    const url = 'https://images.example.com/photos/beach.jpg';
    const width = 200;
    const expected = (await renderThumbnail(url, width)).thumbnail;

    const submit = await app('/thumbnails', { body: { url, width } });
    assert.equal(submit.status, 202, JSON.stringify(submit.body));
    assert.deepEqual(submit.body, { taskId: thumbnailTaskId(url, width), status: 'queued', duplicate: false });
    assert.equal(submit.headers.get('location'), `/thumbnails/${submit.body.taskId}`);

    const done = await waitForStatus(submit.body.taskId, ['succeeded']);
    assert.equal(done.attempts, 1);
    assert.deepEqual(done.result, expected);
    assert.equal(done.result.width, width);
    assert.equal(done.result.height, 150);

    // The pool process wrote the PNG to the store: the bytes the result describes.
    const png = await readFile(join(env.MEDIA_STORE_DIR, `${expected.key}.png`));
    assert.equal(png.length, done.result.bytes);
    assert.equal(createHash('sha256').update(png).digest('hex'), done.result.sha256);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

    // Tideway's own HTTP API shows the same task to the app's tenant (the key from the config).
    const viaApi = await http('GET', `${dev.apiUrl}/v1/tasks/${submit.body.taskId}`, { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
    assert.equal(viaApi.body.type, 'media.thumbnail');
    assert.equal(viaApi.body.tenant, 'media-app');
    assert.equal(viaApi.body.lane, 'normal');
    assert.equal(viaApi.body.group, 'media');
    assert.deepEqual(viaApi.body.result, expected);
  });

  it('the same thumbnail asked for twice is one task (deterministic task ID)', async () => {
    const body = { url: 'https://images.example.com/photos/dog.png', width: 64 };
    // Three at once: exactly one starts the task, the others find it.
    const first = await Promise.all([1, 2, 3].map(() => app('/thumbnails', { body })));
    for (const r of first) assert.equal(r.status, 202, JSON.stringify(r.body));
    const ids = new Set(first.map((r) => r.body.taskId));
    assert.deepEqual([...ids], [thumbnailTaskId(body.url, body.width)]);
    assert.equal(first.filter((r) => r.body.duplicate === false).length, 1, JSON.stringify(first.map((r) => r.body)));

    const done = await waitForStatus(first[0].body.taskId, ['succeeded']);
    // After it finished, asking again still runs nothing new.
    const again = await app('/thumbnails', { body });
    assert.equal(again.status, 202);
    assert.equal(again.body.taskId, done.taskId);
    assert.equal(again.body.duplicate, true);
    const after = await app(`/thumbnails/${done.taskId}`);
    assert.equal(after.body.attempts, 1);
    assert.equal(after.body.submittedAt, done.submittedAt);

    // Another width is another thumbnail, so another task.
    const other = await app('/thumbnails', { body: { ...body, width: 65 } });
    assert.equal(other.status, 202);
    assert.notEqual(other.body.taskId, done.taskId);
    assert.equal(other.body.duplicate, false);
    assert.equal((await waitForStatus(other.body.taskId, ['succeeded'])).result.width, 65);
  });

  it('answers 400 with a clear message for a bad request, 404 for an unknown task', async () => {
    const cases = [
      [{ url: 'https://images.example.com/a.png' }, 'width: width must be a number'],
      [{ url: 'ftp://images.example.com/a.png', width: 100 }, 'url: url must be an absolute http(s) URL'],
      [{ url: 'not a url', width: 100 }, 'url: url must be an absolute http(s) URL'],
      [{ url: 'https://images.example.com/a.png', width: 5000 }, 'width: width must be at most 1024'],
      [{ url: 'https://images.example.com/a.png', width: 10.5 }, 'width: width must be a whole number of pixels'],
      [{ url: 'https://images.example.com/a.png', width: 100, extra: 1 }, 'extra'],
    ];
    for (const [body, message] of cases) {
      const r = await app('/thumbnails', { body });
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.type, 'ValidationError');
      assert.match(r.body.error.message, /^invalid thumbnail request: /);
      assert.ok(r.body.error.message.includes(message), `${JSON.stringify(body)}: "${r.body.error.message}" should mention "${message}"`);
    }
    const notJson = await app('/thumbnails', { body: '{"url":' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.type, 'BadRequest');
    assert.match(notJson.body.error.message, /not valid JSON/);

    assert.equal((await app(`/thumbnails/${thumbnailTaskId('https://nowhere.example/x.png', 99)}`)).status, 404);
    assert.equal((await app('/thumbnails/not-a-thumbnail')).status, 404);
  });

  it('an unsupported format fails for good after one attempt (NonRetryableError → dead_lettered)', async () => {
    const submit = await app('/thumbnails', { body: { url: 'https://images.example.com/anim.gif', width: 128 } });
    assert.equal(submit.status, 202);
    const dead = await waitForStatus(submit.body.taskId, ['dead_lettered']);
    assert.equal(dead.attempts, 1);
    assert.equal(dead.error.type, 'NonRetryableError');
    assert.equal(dead.error.class, 'non_retryable');
    assert.match(dead.error.message, /unsupported source format/);
    assert.equal(dead.result, undefined);
  });

  it('the nightly cleanup is a Temporal Schedule, and a fire runs media.cleanup on the low lane', async () => {
    const schedules = JSON.parse(await tideway('schedules', 'list', '--json'));
    const nightly = schedules.find((s) => s.scheduleId === 'tideway.media-app.nightly-cleanup');
    assert.ok(nightly, `no nightly schedule in ${JSON.stringify(schedules)}`);
    assert.equal(nightly.type, 'media.cleanup');
    assert.equal(nightly.paused, false);
    // 03:00 UTC every day: the next fire is within a day, and the ones after are a day apart.
    const fires = nightly.nextFires.map((f) => new Date(f).getTime());
    assert.ok(fires.length >= 2, JSON.stringify(nightly));
    for (const f of nightly.nextFires) assert.match(f, /T03:00:00\.000Z$/);
    assert.ok(fires[0] - Date.now() <= 86_400_000 && fires[0] > Date.now(), nightly.nextFires[0]);
    assert.equal(fires[1] - fires[0], 86_400_000);

    // Fire it now, as 03:00 would: the low lane's pool starts from zero and runs the cleanup.
    await tideway('schedules', 'trigger', 'tideway.media-app.nightly-cleanup');
    const task = await until(
      'a media.cleanup task succeeds',
      async () => {
        const { tasks } = JSON.parse(await tideway('list', '--type', 'media.cleanup', '--json'));
        return tasks.find((t) => t.status === 'succeeded');
      },
      90_000,
      1_000,
    );
    assert.match(task.taskId, /^tideway\.media-app\.nightly-cleanup-/);
    assert.equal(task.lane, 'low');
    const state = JSON.parse(await tideway('get', task.taskId, '--json'));
    const stored = (await readdir(env.MEDIA_STORE_DIR)).filter((f) => f.endsWith('.png'));
    assert.ok(stored.length >= 2, `store holds ${stored.join(', ')}`);
    // Fresh thumbnails are younger than 30 days: scanned, none deleted.
    assert.deepEqual(state.result, { olderThanDays: 30, scanned: stored.length, deleted: 0 });
  });
});
