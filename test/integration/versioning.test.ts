import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadSettings } from '../../config/settings';
import { findOrBuildTemporalCli, startDevServer, type DevServer } from '../../temporal';
import { describeDeployment, setCurrentVersion, setRampingVersion } from '../../temporal/deployments';
import { DEMO_CONFIG, startStack, uniqueId, waitFor, expectNoLeakedWorkers, type Stack } from '../helpers/stack';

/**
 * Worker versioning of the control worker on a real server. Its own dev server: a current version
 * on the shared one would route every other file's (unversioned) control worker out of work.
 */
jest.setTimeout(120_000);

let server: DevServer;
let stack: Stack;

beforeAll(async () => {
  const settings = loadSettings();
  const cli = await findOrBuildTemporalCli({
    explicit: settings.temporalCli,
    cacheDir: settings.cacheDir,
    searchPath: settings.searchPath,
  });
  const dir = mkdtempSync(join(tmpdir(), 'tideway-versioning-'));
  server = await startDevServer({ cli, port: 0, headless: true, logDir: dir });
  stack = await startStack({ address: server.address, control: false, pools: [] });
});

afterAll(async () => {
  await stack?.stop();
  await server?.stop();
  expectNoLeakedWorkers();
});

/** The control build that last ran (or will run, for auto-upgrade) the task's workflow code. */
async function buildOf(taskId: string): Promise<string | undefined> {
  const d = await stack.temporal.workflow.getHandle(taskId).describe();
  return d.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId ?? undefined;
}

test('a new control build rolls out while tasks are in flight: promote, old build drains, tasks finish on the new one', async () => {
  const b1 = await stack.spawn({ role: 'control' }, { TIDEWAY_BUILD_ID: 'b1', TIDEWAY_PROMOTE: '1' });
  expect((await describeDeployment(server.connection, 'default'))?.currentBuildId).toBe('b1');

  // Two tasks start on b1 and wait in the pool's queue (no pool runs yet).
  const early = uniqueId('ver-early');
  await stack.client.submit('demo.sleep', { ms: 50 }, { taskId: early });
  await waitFor(async () => (await buildOf(early)) === 'b1', 15_000, 'first task on b1');

  // b2 polls but is not current: a new task still goes to b1.
  await stack.spawn({ role: 'control' }, { TIDEWAY_BUILD_ID: 'b2' });
  const middle = uniqueId('ver-middle');
  await stack.client.submit('demo.sleep', { ms: 50 }, { taskId: middle });
  await waitFor(async () => (await buildOf(middle)) === 'b1', 15_000, 'second task on b1');
  const registered = await describeDeployment(server.connection, 'default');
  expect(registered?.versions.map((v) => v.buildId).sort()).toEqual(['b1', 'b2']);

  // Promote b2 through the CLI, stop b1: the in-flight tasks finish on b2 (auto-upgrade).
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(__dirname, '../../dist/cli/index.js'), '--config', DEMO_CONFIG, 'versions', 'promote', 'b2'],
    {
      env: { ...process.env, TEMPORAL_ADDRESS: server.address },
    },
  );
  expect(stdout).toMatch(/build b2 is current/);
  await b1.stop(10_000);
  await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
  for (const id of [early, middle]) {
    await expect(stack.client.result(id)).resolves.toMatchObject({ sleptMs: expect.any(Number) });
    expect(await buildOf(id)).toBe('b2');
  }
  const late = uniqueId('ver-late');
  await stack.client.submit('demo.sleep', { ms: 50 }, { taskId: late });
  await expect(stack.client.result(late)).resolves.toMatchObject({ sleptMs: expect.any(Number) });
  expect(await buildOf(late)).toBe('b2');
  const after = await describeDeployment(server.connection, 'default');
  expect(after?.currentBuildId).toBe('b2');
  expect(after?.versions.find((v) => v.buildId === 'b1')?.status).toMatch(/draining|drained/);
});

test('a ramp sends a share of new tasks to the ramping build; unversioned routes back to plain workers', async () => {
  await stack.spawn({ role: 'control' }, { TIDEWAY_BUILD_ID: 'b3' });
  await setRampingVersion(server.connection, 'default', 'b3', 50);
  const ids = Array.from({ length: 16 }, (_, i) => uniqueId(`ver-ramp${i}`));
  for (const id of ids) await stack.client.submit('demo.echo', { i: id }, { taskId: id });
  await Promise.all(ids.map((id) => stack.client.result(id)));
  const builds = await Promise.all(ids.map(buildOf));
  // 16 tasks at 50 %: both builds get some (all on one side has probability 2 * 0.5^16).
  expect(new Set(builds)).toEqual(new Set(['b2', 'b3']));

  await setRampingVersion(server.connection, 'default', 'b3', 0);
  await setCurrentVersion(server.connection, 'default', undefined);
  await stack.spawn({ role: 'control' });
  const plain = uniqueId('ver-plain');
  await stack.client.submit('demo.echo', { plain: true }, { taskId: plain });
  await expect(stack.client.result(plain)).resolves.toBeDefined();
  expect(await buildOf(plain)).toBeUndefined();
});
