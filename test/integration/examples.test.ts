import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * examples/media-app is a separate package that depends on this one (`file:../..`); its README says
 * `npm install`, `npm run typecheck`, `npm test`. This runs exactly that, so the example a new team
 * copies keeps working. Its own test starts `tideway dev` on an embedded dev server of its own.
 */
jest.setTimeout(420_000);

const run = promisify(execFile);
const APP = join(__dirname, '..', '..', 'examples', 'media-app');

test("examples/media-app: its README's install, typecheck and test pass", async () => {
  const opts = { cwd: APP, maxBuffer: 1 << 24, env: { ...process.env, CI: 'true' } };
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], opts);
  await run('npm', ['run', 'typecheck', '--silent'], opts);
  const { stdout } = await run('npm', ['test', '--silent'], opts).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`examples/media-app npm test failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  // node --test's spec reporter closes with `ℹ pass N` / `ℹ fail N`.
  expect(stdout).toMatch(/pass [1-9]/);
  expect(stdout).toMatch(/fail 0/);
});
