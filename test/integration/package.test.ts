import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testAddress, uniqueId, waitFor } from '../helpers/stack';

/**
 * The adopting team's path, end to end: `npm pack` this repo, install the tarball into an empty
 * project that has its own TypeScript catalog and handler module, type-check it against the
 * registered catalog, start it with `tideway dev` against the test server, and run its task to a
 * result through TaskClient, the HTTP API and the CLI. Nothing of this repo's demo is involved.
 */
jest.setTimeout(420_000);

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const pkg = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
const API_KEY = 'acme-key-0123456789';

let dir: string;
let dev: ChildProcess | undefined;
let devOut = '';

const FILES: Record<string, string> = {
  'ops/tideway.config.ts': `import { defineConfig } from 'tideway';
import { catalog } from '../src/catalog';

export default defineConfig({
  app: 'adopter',
  catalog,
  handlers: { greet: () => import('../src/handlers/greet') },
  api: { keys: { acme: '${API_KEY}' } },
  logLevel: 'warn',
});
`,
  'src/catalog.ts': `import { defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

export const catalog = defineCatalog({
  tasks: [
    defineTask({
      name: 'greet.hello',
      group: 'greet',
      input: z.object({ name: z.string() }).strict(),
      output: z.object({ greeting: z.string(), pid: z.number() }),
      timeouts: { startToClose: '30s' },
    }),
  ],
  pools: { greet: { all: { minReplicas: 0 }, normal: { minReplicas: 1, startupSeconds: 1 } } },
});

declare module 'tideway' {
  interface Register {
    catalog: typeof catalog;
  }
}
`,
  'src/handlers/greet.ts': `import { defineHandlers } from 'tideway';
import { catalog } from '../catalog';

export default defineHandlers(catalog, {
  'greet.hello': async ({ name }, ctx) => {
    ctx.heartbeat();
    return { greeting: \`hello \${name}\`, pid: process.pid };
  },
});
`,
  'src/typing.ts': `import { HttpTaskClient, TaskClient } from 'tideway';
import { runPool } from 'tideway/worker';
import { startApiServer } from 'tideway/http';
import { runScaler } from 'tideway/scaler';
import './catalog';

// Typed by the registered catalog, with no generic at the call sites.
export async function checks(c: TaskClient, h: HttpTaskClient): Promise<void> {
  await c.submit('greet.hello', { name: 'x' }, { lane: 'high' });
  // @ts-expect-error name must be a string
  await c.submit('greet.hello', { name: 1 });
  // @ts-expect-error not a task type of this catalog (nor is the Tideway demo's)
  await c.submit('demo.echo', {});
  const r: { greeting: string } = await c.result('id', 'greet.hello');
  // @ts-expect-error the HTTP client knows the same catalog
  await h.submit('greet.hello', { nam: 'x' });
  void r;
  void [runPool, startApiServer, runScaler];
}
`,
  'client.cjs': `const { TaskClient } = require('tideway');
(async () => {
  const c = await TaskClient.fromConfig();
  const { taskId } = await c.submit('greet.hello', { name: 'client' });
  const result = await c.result(taskId);
  console.log(JSON.stringify({ taskId, result }));
  await c.close();
})().catch((e) => { console.error(e); process.exit(1); });
`,
  'bad.config.ts': `import { defineConfig } from 'tideway';
import { catalog } from './src/catalog';
export default defineConfig({ catalog, handlers: { greet: async () => ({}) }, api: { port: 'eighty' as unknown as number } });
`,
  // What the README recommends: `bundler` resolution reads package.json `exports` (tideway/worker,
  // ...) and lets the config's `import('../src/handlers/greet')` go without a file extension.
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      strict: true,
      module: 'preserve',
      moduleResolution: 'bundler',
      target: 'es2022',
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
    },
    include: ['src', 'ops'],
  }),
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tideway-adopter-'));
  // `prepack` would build again; npm test has just built dist/.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: ROOT });
  const tarball = join(dir, stdout.trim().split('\n').pop()!);
  for (const [file, text] of Object.entries(FILES)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'adopter',
      private: true,
      version: '0.0.0',
      dependencies: { tideway: `file:${tarball}`, zod: pkg('zod') },
      devDependencies: { typescript: pkg('typescript'), '@types/node': pkg('@types/node') },
    }),
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: dir, maxBuffer: 1 << 24 });
});

afterAll(async () => {
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    dev.kill('SIGKILL');
    await once(dev, 'exit');
  }
});

const bin = () => join(dir, 'node_modules', '.bin', 'tideway');
const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  TEMPORAL_ADDRESS: testAddress(),
  TIDEWAY_LOG_LEVEL: 'warn',
  ...extra,
});

test('the installed package is what a team imports: built JS, types, the workflow bundle, no tests or demo', () => {
  const installed = join(dir, 'node_modules', 'tideway');
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    private?: boolean;
    exports: Record<string, unknown>;
  };
  expect(manifest.private).toBeUndefined();
  expect(Object.keys(manifest.exports)).toEqual(expect.arrayContaining(['.', './worker', './http', './scaler']));
  for (const f of [
    'dist/exports/index.js',
    'dist/exports/index.d.ts',
    'dist/exports/worker.d.ts',
    'dist/workflow-bundle.js',
    'bin/tideway.js',
  ]) {
    expect(() => readFileSync(join(installed, f))).not.toThrow();
  }
  for (const f of ['dist/test', 'dist/examples', 'dist/bench', 'examples']) {
    expect(() => readFileSync(join(installed, f, 'x'))).toThrow(/ENOENT/);
  }
});

test("the project's own catalog types the clients (tsc, with @ts-expect-error lines that must be errors)", async () => {
  await run(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: dir });
});

test('`tideway config check` prints the effective config, and names a bad field', async () => {
  const ok = await run(bin(), ['--config', 'ops/tideway.config.ts', 'config', 'check', '--handlers'], { cwd: dir, env: env() });
  expect(ok.stdout).toContain('"app": "adopter"');
  expect(ok.stdout).toContain('"control": "tideway.adopter.control"');
  expect(ok.stdout).toContain('acme=…19 chars');
  expect(ok.stdout).not.toContain(API_KEY);
  expect(ok.stdout).toContain('"greet": "ok (1 handler)"');
  expect(ok.stdout).toContain('config ok');
  const bad = run(bin(), ['--config', 'bad.config.ts', 'config', 'check'], { cwd: dir, env: env() });
  await expect(bad).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/ConfigError.*\n.*- api\.port: /) });
});

test('`tideway dev` runs the project; its task runs to a result through TaskClient, HTTP and the CLI', async () => {
  // No tideway.config.ts in the working folder: the scaler and the pools it starts get the config
  // path from their parent, or they could not start.
  dev = spawn(bin(), ['--config', 'ops/tideway.config.ts', 'dev'], {
    cwd: dir,
    env: env({ TIDEWAY_PORT: '0', TIDEWAY_DATA_DIR: join(dir, '.tideway'), TIDEWAY_SCALER_INTERVAL: '1s' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dev.stdout!.on('data', (b: Buffer) => (devOut += b.toString()));
  dev.stderr!.on('data', (b: Buffer) => (devOut += b.toString()));
  await waitFor(() => devOut.includes('Tideway is up.') || dev!.exitCode !== null, 120_000, `tideway dev to start:\n${devOut}`);
  expect(devOut).toContain('Tideway is up.');
  expect(devOut).toContain('(app adopter)');
  const url = /HTTP API\s+(http:\/\/\S+)/.exec(devOut)?.[1];
  expect(url).toBeDefined();

  // 1. TaskClient, from the config (TIDEWAY_CONFIG names it; nothing is passed in code).
  const tc = await run(process.execPath, ['client.cjs'], { cwd: dir, env: env({ TIDEWAY_CONFIG: join(dir, 'ops/tideway.config.ts') }) });
  const viaClient = JSON.parse(tc.stdout) as { result: { greeting: string; pid: number } };
  expect(viaClient.result.greeting).toBe('hello client');

  // 2. HTTP, with the key the config names.
  const id = uniqueId('adopter-http');
  const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
  const post = await fetch(`${url}/v1/tasks`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ type: 'greet.hello', input: { name: 'http' }, taskId: id }),
  });
  expect(post.status).toBe(201);
  const state = await waitFor(
    async () => {
      const s = (await (await fetch(`${url}/v1/tasks/${id}`, { headers })).json()) as { status: string; result?: { greeting: string } };
      return s.status === 'succeeded' ? s : undefined;
    },
    60_000,
    'the HTTP task to succeed',
  );
  expect(state.result?.greeting).toBe('hello http');
  const badInput = await fetch(`${url}/v1/tasks`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ type: 'greet.hello', input: { name: 7 } }),
  });
  expect(badInput.status).toBe(400);

  // 3. The CLI, direct to Temporal.
  const cli = await run(bin(), ['submit', 'greet.hello', '{"name":"cli"}', '--wait', '--json'], {
    cwd: dir,
    env: env({ TIDEWAY_CONFIG: join(dir, 'ops/tideway.config.ts') }),
  });
  expect((JSON.parse(cli.stdout) as { result: { greeting: string } }).result.greeting).toBe('hello cli');

  // The handler ran in a pool process the scaler started, not in the dev process itself.
  expect(viaClient.result.pid).not.toBe(dev.pid);

  dev.kill('SIGTERM');
  const [code] = (await once(dev, 'exit')) as [number | null];
  expect(code).toBe(0);
});
