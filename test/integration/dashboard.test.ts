import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ApiKeyStore } from '../../api/http/auth';
import { scalerStateFileProvider } from '../../api/http/scaler-pools';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { catalog, type Tasks } from '../../examples/demo/catalog';
import { dryRunActuator } from '../../scaler/actuators/dry-run';
import { compileScalerOptions } from '../../scaler/options';
import { Scaler } from '../../scaler/scaler';
import { defaultSignals } from '../../scaler/signals';
import { CHROMIUM, ensureChromium } from '../helpers/chromium';
import { expectNoLeakedWorkers, startStack, uniqueId, waitFor, type Stack } from '../helpers/stack';
import { teardown } from '../helpers/teardown';
import { listen, type Caller } from './api-helpers';

/**
 * The dashboard in Debian's chromium (playwright-core) against a running stack: the real dev
 * server, real control and pool processes, the real HTTP server, and a live scaler (dry-run
 * actuator) whose state feeds replicas and desired. The page's numbers must match `GET /v1/pools`
 * and the task list; a task view opens; the screenshots go to docs/ for the README.
 */

jest.setTimeout(240_000);

const KEYS = { acme: 'acme-dashboard-key-1', globex: 'globex-dashboard-key-2' };
const keys = ApiKeyStore.parse(`acme=${KEYS.acme},globex=${KEYS.globex}`);
const DOCS = join(__dirname, '..', '..', 'docs');
const WEB_UI = 'http://localhost:8233';

let stack: Stack;
let apiClient: TaskClient<Tasks>;
let api: ApiServer;
let url: string;
let call: Caller;
let scaler: Scaler;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const browserPath = ensureChromium() ?? CHROMIUM;
  // The control worker paces the bulk's low-lane starts at 4/s, so the bulk is still running on the page.
  stack = await startStack({ env: { TIDEWAY_ADMISSION: 'low=4/s' } });
  const stateFile = join(mkdtempSync(join(tmpdir(), 'tideway-dash-')), 'scaler-state.json');
  const options = compileScalerOptions({ interval: '1s' }, catalog.pools);
  scaler = new Scaler({ options, signals: defaultSignals(stack.temporal, catalog, options), actuator: dryRunActuator(), stateFile });
  scaler.start();
  // The API's own client, with the adaptive admission an API process has by default.
  apiClient = new TaskClient({ client: stack.temporal, catalog, admission: { kind: 'adaptive', objectiveMs: 250 } });
  api = await buildApiServer({
    client: apiClient,
    keys,
    backpressure: false,
    poolProviders: [scalerStateFileProvider(stateFile)],
    dashboard: { sampleIntervalMs: 1_000, webUiUrl: WEB_UI, highWaitObjectiveMs: 250 },
  });
  ({ url, call } = await listen(api));
  browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
}, 120_000);

afterAll(async () => {
  await teardown([
    ['close the browser', () => browser?.close()],
    ['close the API server', () => api?.close()],
    ["close the API's client", () => apiClient?.close()],
    ['stop the scaler', () => scaler?.stop()],
    ['stop the stack', () => stack?.stop()],
  ]);
  expectNoLeakedWorkers();
}, 120_000);

/** The page's value of one pool field (`data-value`, the JSON the page got). */
async function pageTable(): Promise<Record<string, Record<string, unknown>>> {
  return page.$$eval('#pools tbody tr', (rows) =>
    Object.fromEntries(
      rows.map((r) => [
        r.getAttribute('data-pool'),
        Object.fromEntries(
          [...r.querySelectorAll('[data-field]')].map((c) => [c.getAttribute('data-field'), JSON.parse(c.getAttribute('data-value')!)]),
        ),
      ]),
    ),
  );
}

async function pageTasks(): Promise<{ id: string; status: string }[]> {
  return page.$$eval('#tasks tbody tr', (rows) =>
    rows.map((r) => ({ id: r.getAttribute('data-task-id')!, status: r.getAttribute('data-status')! })),
  );
}

describe('dashboard', () => {
  const brokenId = uniqueId('dash-broken');
  const batchId = uniqueId('dash-yield');
  const bulkId = uniqueId('dash-bulk');
  const secretId = uniqueId('dash-globex');

  it('serves the page and its files without a key, and its data only with one', async () => {
    const html = await fetch(`${url}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    for (const f of ['app.js', 'style.css', 'echarts.min.js']) expect((await fetch(`${url}/dashboard/${f}`)).status).toBe(200);
    expect((await call('GET', '/dashboard/nope.js')).status).toBe(400);
    expect((await call('GET', '/v1/dashboard')).status).toBe(401);
    const d = await call('GET', '/v1/dashboard', { key: KEYS.acme });
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ tenant: 'acme', webUi: { url: WEB_UI, namespace: 'default' }, highWaitObjectiveMs: 250 });
    // The demo's catalog schedules fire daily: both are in the next 24 h with planned replicas.
    const ids = d.body.forecast.fires.map((f: { scheduleId: string }) => f.scheduleId);
    expect(ids).toEqual(expect.arrayContaining(['tideway.demo.nightly-echo', 'tideway.demo.nightly-yield']));
    for (const f of d.body.forecast.fires) expect(f.plannedReplicas).toBeGreaterThanOrEqual(1);
  });

  it('shows pools, lanes, forecast, running work and tasks that match the API, then a task view', async () => {
    // Work for the page: tasks that finish, one dead letter, a running batch and a running bulk for
    // acme; one task of another tenant that acme must never see.
    const submit = async (key: string, json: unknown) => {
      const r = await call('POST', '/v1/tasks', { key, json });
      expect([200, 201]).toContain(r.status);
    };
    for (let i = 0; i < 5; i++) await submit(KEYS.acme, { type: 'demo.echo', input: { i }, taskId: uniqueId('dash-echo') });
    await submit(KEYS.acme, { type: 'demo.fail', input: { errorClass: 'non_retryable', times: 1 }, taskId: brokenId });
    await submit(KEYS.acme, { type: 'demo.yield', input: { accounts: 3000, seed: 3, perShard: 50, shardMs: 2500 }, taskId: batchId });
    await submit(KEYS.globex, { type: 'demo.echo', input: 'secret', taskId: secretId });
    const bulk = await call('POST', '/v1/tasks:bulk', {
      key: KEYS.acme,
      json: { bulkId, tasks: Array.from({ length: 160 }, (_, i) => ({ type: 'demo.echo', input: { i }, lane: 'low' })) },
    });
    expect(bulk.status).toBe(202);
    // Sleeps on the normal lane: more than one pool process takes at once, so it has a backlog to chart.
    const sleeps = await call('POST', '/v1/tasks:bulk', {
      key: KEYS.acme,
      json: { tasks: Array.from({ length: 240 }, () => ({ type: 'demo.sleep', input: { ms: 3000 }, lane: 'normal' })) },
    });
    expect(sleeps.status).toBe(202);

    await page.goto(`${url}/`);
    await page.fill('#key', KEYS.acme);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#main:not([hidden])');
    await page.waitForSelector('#pools tbody tr[data-pool="demo.normal"]');
    expect(await page.textContent('#tenant')).toBe('tenant acme');

    // Running batch and bulk with their progress, while they run.
    await page.waitForSelector(`[data-batch="${batchId}"] .progress`, { timeout: 60_000 });
    await page.waitForSelector(`[data-bulk="${bulkId}"] .progress`, { timeout: 60_000 });
    // Let the charts gather some history (the API samples every second here), then the screenshot.
    await waitFor(async () => (await api.dashboard.sampler.samples()).length >= 20, 60_000, 'history samples');
    await page.waitForTimeout(5_500); // one poll of the page, so the charts hold the samples just taken
    await page.screenshot({ path: join(DOCS, 'dashboard.png'), fullPage: true });

    // Tenant isolation: the other tenant's task is nowhere on acme's page, nor can acme open it.
    expect(await page.$(`[data-task-id="${secretId}"]`)).toBeNull();

    // The pool table equals GET /v1/pools (replicas and desired come from the live scaler's state).
    await waitFor(
      async () => {
        const [table, pools] = [await pageTable(), (await call('GET', '/v1/pools', { key: KEYS.acme })).body.pools];
        for (const p of pools) {
          const row = table[`${p.group}.${p.lane}`];
          if (!row) return false;
          for (const f of ['backlog', 'replicas', 'desired']) if (row[f] !== p[f]) return false;
        }
        return pools.every((p: { replicas: number | null }) => p.replicas !== null);
      },
      90_000,
      'the page shows the pools of GET /v1/pools',
    );

    // The recent tasks are the first page of GET /v1/tasks, with the same statuses.
    await waitFor(
      async () => {
        const api25 = (await call('GET', '/v1/tasks?pageSize=25', { key: KEYS.acme })).body.tasks.map(
          (t: { taskId: string; status: string }) => ({
            id: t.taskId,
            status: t.status,
          }),
        );
        const shown = await pageTasks();
        return api25.length > 0 && JSON.stringify(shown) === JSON.stringify(api25);
      },
      90_000,
      'the page lists the tasks of GET /v1/tasks',
    );

    // The dead-lettered count links to the filtered list.
    await waitFor(async () => (await stack.client.get(brokenId)).status === 'dead_lettered', 30_000, 'dead letter');
    const dead = (await call('GET', '/v1/tasks?status=dead_lettered&pageSize=1000', { key: KEYS.acme })).body.tasks.length;
    await waitFor(async () => (await page.getAttribute('#dead-count', 'data-value')) === String(dead), 30_000, 'dead-letter count');
    await page.click('#dead-link');
    const listed = await waitFor(
      async () => {
        const rows = await pageTasks();
        return rows.every((t) => t.status === 'dead_lettered') && rows.length === Math.min(dead, 25) && rows;
      },
      30_000,
      'the filtered list',
    );
    expect(listed.map((t) => t.id)).toContain(brokenId);

    // A task view: state, attempts, last error, logs, and the link to its run in the Web UI.
    await page.click(`#tasks tbody tr[data-task-id="${brokenId}"]`);
    await page.waitForSelector(`#task-view:not([hidden])[data-task-id="${brokenId}"]`);
    await page.waitForSelector('#tv-logs [data-field]');
    const view = await page.$eval('#task-view', (v) => ({
      status: v.getAttribute('data-status'),
      attempts: v.querySelector('[data-field="attempts"]')?.textContent,
      error: v.querySelector('[data-field="lastError"]')?.textContent ?? '',
      logs: v.querySelector('#tv-logs')?.textContent ?? '',
      webUi: (v.querySelector('#tv-webui') as unknown as { href: string }).href,
    }));
    const state = (await call('GET', `/v1/tasks/${brokenId}`, { key: KEYS.acme })).body;
    expect(view.status).toBe('dead_lettered');
    expect(view.attempts).toBe(String(state.attempts));
    expect(view.error).toContain(state.lastError.type);
    expect(view.error).toContain(state.lastError.message);
    // The handler's own lines (ctx.log), as GET /v1/tasks/{id}/logs gives them.
    const logs = await call('GET', `/v1/tasks/${brokenId}/logs`, { key: KEYS.acme });
    expect(logs.status).toBe(200);
    expect(logs.body.lines.length).toBeGreaterThanOrEqual(1);
    for (const l of logs.body.lines as { msg: string }[]) expect(view.logs).toContain(l.msg);
    const runId = (await stack.client.describe(brokenId)).runId;
    expect(view.webUi).toBe(`${WEB_UI}/namespaces/default/workflows/${brokenId}/${runId}/history`);
    await page.screenshot({ path: join(DOCS, 'dashboard-task.png') });

    // Another tenant's task does not open.
    await page.goto(`${url}/#task=${encodeURIComponent(secretId)}`);
    await page.waitForSelector('#tv-facts .error');
    expect(await page.textContent('#tv-facts')).toContain('No such task');
  });
});
