import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCatalog } from '../../config/catalog-schema';
import { findConfigFile, loadProject, projectFrom } from '../../config/load';
import { configEnv, parseConfig } from '../../config/project';
import { defineTask } from '../../config/task';
import { z } from 'zod';

/**
 * Loading a project's config module as every process does: the file found, its settings merged
 * under the environment, the app carried into every queue name, and handlers loaded per group.
 * The fixture projects import 'tideway', which Node resolves to this repo's dist/ (npm test builds first).
 */
const REPORTS = join(__dirname, '..', 'fixtures', 'projects', 'reports', 'tideway.config.ts');
const DEMO = join(__dirname, '..', '..', 'examples', 'demo', 'tideway.config.ts');
const noEnv = {} as NodeJS.ProcessEnv;

const tiny = defineCatalog({
  tasks: [defineTask({ name: 'g.t', group: 'g', input: z.object({ n: z.number() }) })],
});

test('the config names the app; every queue carries it, and TIDEWAY_APP overrides it', async () => {
  const p = await loadProject({ config: REPORTS, env: noEnv });
  expect(p.catalog.app).toBe('reports');
  expect(p.catalog.controlQueue).toBe('tideway.reports.control');
  expect(p.catalog.callbackQueue).toBe('tideway.reports.callbacks');
  expect(p.catalog.pool('reports', 'normal')?.taskQueue).toBe('tideway.reports.reports.normal');
  expect(p.catalog.schedules).toEqual([]);

  const other = await loadProject({ config: REPORTS, env: { TIDEWAY_APP: 'staging' } });
  expect(other.catalog.controlQueue).toBe('tideway.staging.control');
});

test('a project without an app keeps the plain queue names', async () => {
  const p = await loadProject({ config: DEMO, env: noEnv });
  expect(p.catalog.app).toBeUndefined();
  expect(p.catalog.controlQueue).toBe('tideway.control');
  expect(p.catalog.pool('demo', 'low')?.taskQueue).toBe('tideway.demo.low');
  expect(p.catalog.schedules.map((s) => s.scheduleId)).toEqual(['tideway.demo.nightly-echo', 'tideway.demo.nightly-yield']);
});

test('config values become settings, and the environment wins over the file', () => {
  const file = '/srv/app/tideway.config.ts';
  const config = {
    catalog: tiny,
    handlers: { g: async () => ({}) },
    temporal: { address: 'temporal.internal:7233', namespace: 'prod', tls: { cert: 'certs/client.pem', key: 'certs/client.key' } },
    api: { port: 9090, keys: { acme: 'key-acme-123456' } },
    admission: 'low=20/s',
    lanes: { high: { waitObjective: '400ms' } },
    dataDir: 'var',
  };
  const p = projectFrom(config, file, { TEMPORAL_NAMESPACE: 'override' });
  expect(p.settings.temporalAddress).toBe('temporal.internal:7233');
  expect(p.settings.namespace).toBe('override');
  expect(p.settings.tls).toBe(true);
  expect(p.settings.tlsCert).toBe('/srv/app/certs/client.pem');
  expect(p.settings.dataDir).toBe('/srv/app/var');
  expect(p.env.TIDEWAY_PORT).toBe('9090');
  expect(p.env.TIDEWAY_API_KEYS).toBe('acme=key-acme-123456');
  expect(p.env.TIDEWAY_ADMISSION).toBe('low=20/s');
  expect(p.settings.admission).toEqual({ kind: 'fixed', spec: { low: { perSecond: 20, burst: 20 } } });
  expect(p.env.TIDEWAY_HIGH_WAIT_OBJECTIVE).toBe('400ms');
  expect(p.settings.lanes.high.waitObjectiveMs).toBe(400);
  expect(p.env.TIDEWAY_CONFIG).toBe(file);
  expect(configEnv(parseConfig({ catalog: tiny }, file), (x) => x)).toEqual({});
});

test('a bad field is named, with the file it came from', () => {
  expect(() => parseConfig({ catalog: tiny, api: { port: 'eighty' } }, '/x/tideway.config.ts')).toThrow(
    /invalid config in \/x\/tideway\.config\.ts:\n {2}- api\.port: /,
  );
  expect(() => parseConfig({ catalog: tiny, app: 'Bad App' }, 'f')).toThrow(/- app: must be 1-40 lowercase/);
  expect(() => parseConfig({ catalog: { tasks: [] } }, 'f')).toThrow(/- catalog: must be a catalog from defineCatalog/);
  expect(() => parseConfig({ catalog: tiny, temporl: {} }, 'f')).toThrow(/temporl/);
  // mTLS needs both halves.
  expect(() =>
    projectFrom({ catalog: tiny, handlers: { g: async () => ({}) }, temporal: { tls: { cert: 'c.pem' } } }, '/p/t.ts', noEnv),
  ).toThrow(/TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/);
});

test('a task type with no handler anywhere fails at load, naming the group to fill in', () => {
  expect(() => projectFrom({ catalog: tiny }, '/p/tideway.config.ts', noEnv)).toThrow(/handlers\.g: task type g\.t has no inline handler/);
  expect(() => projectFrom({ catalog: tiny, handlers: { g: async () => ({}), nope: async () => ({}) } }, '/p/t.ts', noEnv)).toThrow(
    /handlers\.nope: no task type belongs to group nope/,
  );
});

test('handlers load per group: a crashing module fails only its own group, with its error', async () => {
  const p = await loadProject({ config: REPORTS, env: noEnv });
  const reports = await p.handlersFor('reports');
  expect([...reports.keys()]).toEqual(['reports.sum']);
  await expect(p.handlersFor('broken')).rejects.toMatchObject({
    type: 'HandlerModuleError',
    message: expect.stringContaining('import-time crash (on purpose)'),
  });
  await expect(p.handlersFor('nosuch')).rejects.toMatchObject({ type: 'HandlerModuleError' });
});

test('a handler module must fit the catalog: unknown names and missing handlers are refused', async () => {
  const two = defineCatalog({
    tasks: [defineTask({ name: 'g.a', group: 'g', input: z.unknown() }), defineTask({ name: 'g.b', group: 'g', input: z.unknown() })],
  });
  const withModule = (mod: Record<string, unknown>) => projectFrom({ catalog: two, handlers: { g: async () => mod } }, '/p/t.ts', noEnv);
  await expect(withModule({ default: { 'g.a': async () => 1 } }).handlersFor('g')).rejects.toThrow(/no handler for g\.b/);
  await expect(
    withModule({ default: { 'g.a': async () => 1, 'g.b': async () => 2, 'g.c': async () => 3 } }).handlersFor('g'),
  ).rejects.toThrow(/exports g\.c, which is no task type/);
  await expect(withModule({ default: { 'g.a': async () => 1, 'g.b': 'nope' } }).handlersFor('g')).rejects.toThrow(/not a function/);
  const ok = await withModule({ handlers: { 'g.a': async () => 1, 'g.b': async () => 2 } }).handlersFor('g');
  expect(ok.size).toBe(2);
});

test('the config file is found by --config, TIDEWAY_CONFIG, or its name in the working folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-cfg-'));
  expect(() => findConfigFile({ cwd: dir, env: noEnv })).toThrow(/no tideway\.config\.ts in .*--config <file> or TIDEWAY_CONFIG/);
  writeFileSync(join(dir, 'tideway.config.mjs'), 'export default {}');
  expect(findConfigFile({ cwd: dir, env: noEnv })).toBe(join(dir, 'tideway.config.mjs'));
  expect(findConfigFile({ cwd: dir, env: { TIDEWAY_CONFIG: REPORTS } })).toBe(REPORTS);
  expect(() => findConfigFile({ cwd: dir, env: noEnv, config: 'missing.ts' })).toThrow(/does not exist \(from --config\)/);
});
