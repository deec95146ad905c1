import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOrBuildTemporalCli, freePort, startDevServer, type DevServer } from '../../temporal';
import { loadSettings } from '../../config/settings';
import { startStack, uniqueId, waitFor, expectNoLeakedWorkers } from '../helpers/stack';

jest.setTimeout(120_000);

afterAll(() => expectNoLeakedWorkers());

test('a pool worker killed with SIGKILL mid-task: the task completes once another worker runs', async () => {
  const stack = await startStack({ pools: [] });
  try {
    const first = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    const id = uniqueId('sigkill');
    await stack.client.submit('demo.sleep', { ms: 4_000 }, { taskId: id });
    await waitFor(async () => (await stack.client.get(id)).status === 'running', 20_000, 'running');
    expect(await first.kill()).toBe('SIGKILL');
    const second = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    await expect(stack.client.result(id)).resolves.toMatchObject({ sleptMs: expect.any(Number) });
    const runs = stack.ledgerFor(id);
    // Attempt 1 died with the first process; attempt 2 (after the heartbeat timeout) ran on the second.
    expect(runs.map((r) => [r.pid, r.attempt])).toEqual([
      [first.pid, 1],
      [second.pid, 2],
    ]);
    expect(await stack.client.get(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  } finally {
    await stack.stop();
  }
});

test('the Temporal server restarted mid-run: tasks submitted before it still complete', async () => {
  const settings = loadSettings();
  const cli = await findOrBuildTemporalCli({
    explicit: settings.temporalCli,
    cacheDir: settings.cacheDir,
    searchPath: settings.searchPath,
  });
  const dir = mkdtempSync(join(tmpdir(), 'tideway-restart-'));
  const port = await freePort();
  const opts = { cli, dbFile: join(dir, 'temporal.db'), port, headless: true, logDir: dir };
  let server: DevServer = await startDevServer(opts);
  const stack = await startStack({ address: server.address, pools: [['demo', 'normal']] });
  try {
    const ids = Array.from({ length: 5 }, (_, i) => uniqueId(`restart${i}`));
    for (const id of ids) await stack.client.submit('demo.sleep', { ms: 3_000 }, { taskId: id });
    await waitFor(async () => (await stack.client.get(ids[0]!)).status === 'running', 20_000, 'running');

    await server.stop();
    server = await startDevServer(opts); // same SQLite file, same port: workers and client reconnect

    const results = await Promise.all(ids.map((id) => stack.client.result(id)));
    expect(results).toHaveLength(5);
    for (const id of ids) {
      expect((await stack.client.get(id)).status).toBe('succeeded');
      expect(stack.ledgerFor(id).length).toBeGreaterThanOrEqual(1);
    }
  } finally {
    await stack.stop();
    await server.stop();
  }
});
