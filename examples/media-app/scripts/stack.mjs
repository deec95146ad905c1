// Starting and stopping the media app's processes: `tideway dev` and the app's HTTP endpoint.
// Shared by `npm start` (scripts/start.mjs) and the end-to-end test (test/e2e.test.mjs).
//
// Each child runs in its own process group, so stopping it can check that nothing it started
// (the Temporal dev server, workers, the scaler, pool processes) outlives it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const APP_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(APP_DIR, 'package.json'));

/** The `tideway` CLI of the installed package (what `npx tideway` runs). */
export const TIDEWAY_BIN = join(dirname(require.resolve('tideway/package.json')), 'bin', 'tideway.js');
/** jiti's CLI: runs a TypeScript file without a build step. */
export const JITI_BIN = join(dirname(require.resolve('jiti/package.json')), 'lib', 'jiti-cli.mjs');

/**
 * Starts `node <args>` in APP_DIR as the leader of a new process group and keeps its output lines.
 * `echo(line)` sees every line as it comes (e.g. to print it with a prefix).
 */
export function startProcess(label, args, { env = process.env, echo } = {}) {
  const child = spawn(process.execPath, args, { cwd: APP_DIR, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines = [];
  const waiters = new Set();
  const onLine = (line) => {
    lines.push(line);
    echo?.(line);
    for (const w of waiters) w();
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  let exitInfo;
  const exited = once(child, 'exit').then(([code, signal]) => {
    exitInfo = signal ?? code;
    for (const w of waiters) w();
    return exitInfo;
  });

  const tail = (n = 40) => lines.slice(-n).join('\n');

  /** Resolves with the first line matching `re` (seen before or after the call); rejects on timeout or exit. */
  const waitFor = (re, timeoutMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find((l) => re.test(l));
        if (hit !== undefined) return done(() => resolve(re.exec(hit)));
        if (exitInfo !== undefined) return done(() => reject(new Error(`${label} exited (${exitInfo}) before printing ${re}:\n${tail()}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${label} did not print ${re} within ${timeoutMs} ms:\n${tail()}`))),
        timeoutMs,
      );
      const done = (fn) => {
        clearTimeout(timer);
        waiters.delete(check);
        fn();
      };
      waiters.add(check);
      check();
    });

  /** True while any process of the group (the child or anything it started) is alive. */
  const groupAlive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch (err) {
      return err.code === 'EPERM';
    }
  };

  /**
   * SIGTERM to the child, then waits up to `timeoutMs` for it and its whole group to be gone.
   * Whatever is left after that is SIGKILLed; the result says so (`leaked: true`).
   */
  const stop = async (timeoutMs = 60_000) => {
    if (exitInfo === undefined) child.kill('SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while ((exitInfo === undefined || groupAlive()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const leaked = exitInfo === undefined || groupAlive();
    if (leaked) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
    return { exit: exitInfo, leaked };
  };

  /** Last resort on the way out (process 'exit' handlers must be synchronous). */
  const killGroup = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };

  return { label, child, pid: child.pid, lines, tail, waitFor, exited, stop, groupAlive, killGroup };
}

/**
 * `tideway dev` in APP_DIR: waits for "Tideway is up." and returns what it printed: the Temporal
 * address, the HTTP API's URL and, when no key was configured, the dev API key.
 */
export async function startTidewayDev({ env = process.env, echo, timeoutMs = 180_000 } = {}) {
  const dev = startProcess('tideway dev', [TIDEWAY_BIN, 'dev'], { env, echo });
  try {
    await dev.waitFor(/^Tideway is up\.$/, timeoutMs);
  } catch (err) {
    await dev.stop(30_000);
    throw err;
  }
  const find = (re) => dev.lines.map((l) => re.exec(l)).find(Boolean)?.[1];
  return {
    ...dev,
    temporalAddress: find(/^\s+Temporal gRPC\s+(\S+)/),
    apiUrl: find(/^\s+HTTP API\s+(\S+)/),
    devApiKey: find(/^\s+API key\s+(tw_\S+)/),
  };
}

/** The app's endpoint (`jiti src/server.ts`): waits for its "listening on" line and returns its URL. */
export async function startMediaServer({ env = process.env, echo, timeoutMs = 60_000 } = {}) {
  const server = startProcess('media-app server', [JITI_BIN, 'src/server.ts'], { env, echo });
  let url;
  try {
    url = (await server.waitFor(/^media-app listening on (\S+)$/, timeoutMs))[1];
  } catch (err) {
    await server.stop(15_000);
    throw err;
  }
  return { ...server, url };
}
