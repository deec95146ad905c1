import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, fstatSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import { connectWithRetry, ensureSearchAttributes } from './connection';

/**
 * Dynamic config every Tideway dev server starts with. Set at start because the matcher flags
 * cannot be toggled safely with tasks queued (see docs/decisions.md).
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string>> = {
  // Priority and fairness keys are ignored by the classic matcher on server 1.29.
  'matching.useNewMatcher': 'true',
  'matching.enableFairness': 'true',
  // One partition per queue on a single-node dev server: exact backlog stats and rate limits.
  'matching.numTaskqueueReadPartitions': '1',
  'matching.numTaskqueueWritePartitions': '1',
  // Let API batch operations run side by side (the default is one per namespace).
  'frontend.MaxConcurrentBatchOperationPerNamespace': '5',
  // The dev server has one history shard, and each shard's task queues (transfer: dispatch of
  // workflow and activity tasks; timer: delays, retries, timeouts; visibility: search attributes)
  // are polled at most 20 times/s by default: 25-45 ms per dispatch hop, ~100 ms of a 146 ms task,
  // and a FIFO bottleneck under a flood. A cluster spreads that over hundreds of shards; one shard
  // gets the budget here (docs/decisions.md).
  'history.transferProcessorMaxPollRPS': '1000',
  'history.timerProcessorMaxPollRPS': '1000',
  'history.visibilityProcessorMaxPollRPS': '1000',
};

/**
 * SQLite pragmas for a file-backed dev server. SQLite's defaults (rollback journal, fsync on every
 * commit) cap the server near 50 workflow starts/s on a 2-core machine; WAL with synchronous=NORMAL
 * doubles that and halves the high lane's idle p99 (bench:lanes, docs/decisions.md). A killed server
 * loses nothing (the WAL is in the OS cache); only an OS crash or power cut may drop the last commits.
 */
export const DEV_SERVER_SQLITE_PRAGMAS: Readonly<Record<string, string>> = {
  journal_mode: 'wal',
  synchronous: 'normal',
};

export interface DevServerOptions {
  /** Path of the Temporal CLI binary. */
  cli: string;
  /** SQLite file; tasks survive restarts. `undefined` = in memory. */
  dbFile?: string | undefined;
  /** gRPC port; 0 picks a free one. @default 7233 */
  port?: number;
  /** Web UI port; 0 picks a free one. @default port + 1000 */
  uiPort?: number;
  /** No Web UI. @default false */
  headless?: boolean;
  namespace?: string;
  /** Folder for the server log (`temporal.log`). */
  logDir: string;
  extraArgs?: string[];
  /** How long to wait for the server to answer. @default 60s */
  startTimeoutMs?: number;
}

/** A dev server this process started; `stop()` ends it (and it ends with this process regardless). */
export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly logFile: string;
  readonly pid: number;
  readonly connection: Connection;
  stop(): Promise<void>;
}

/** Asks the OS for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves to true when something already listens on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function killChildrenOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL anything still running so no server is orphaned.
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
}

/** The dev server could not bind a port it picked itself (its HTTP API or metrics port). */
class PortRaceError extends Error {}

/**
 * Starts `temporal server start-dev` with Tideway's search attributes and waits until it answers.
 * With random ports (port 0), a start that loses a port race is tried again with new ports: the CLI
 * picks its HTTP API and metrics ports itself, and may pick one this process chose a moment ago.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(opts);
    } catch (err) {
      if (!(err instanceof PortRaceError) || opts.port !== 0 || attempt >= 3) throw err;
    }
  }
}

async function startDevServerOnce(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port === 0 ? await freePort() : (opts.port ?? 7233);
  const uiPort = opts.headless ? undefined : opts.uiPort === 0 ? await freePort() : (opts.uiPort ?? port + 1000);
  for (const p of [port, uiPort]) {
    if (p !== undefined && (await portInUse(p))) {
      throw new Error(
        `port ${p} is already in use. If a Temporal server runs there, set TEMPORAL_ADDRESS=127.0.0.1:${port} to use it; ` +
          'otherwise pick other ports with TIDEWAY_TEMPORAL_PORT / TIDEWAY_UI_PORT.',
      );
    }
  }
  mkdirSync(opts.logDir, { recursive: true });
  const logFile = join(opts.logDir, 'temporal.log');
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-format', 'json', '--log-level', 'warn'];
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  if (opts.dbFile) {
    args.push('--db-filename', opts.dbFile);
    for (const [k, v] of Object.entries(DEV_SERVER_SQLITE_PRAGMAS)) args.push('--sqlite-pragma', `${k}=${v}`);
  }
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  for (const sa of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${sa}=Keyword`);
  for (const [k, v] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG)) args.push('--dynamic-config-value', `${k}=${v}`);
  args.push(...(opts.extraArgs ?? []));

  const fd = openSync(logFile, 'a');
  const logStart = fstatSync(fd).size; // this start's lines only (the log is appended to)
  const child = spawn(opts.cli, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  killChildrenOnExit();
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      children.delete(child);
      resolve();
    }),
  );

  const address = `127.0.0.1:${port}`;
  let connection: Connection;
  try {
    connection = await Promise.race([
      connectWithRetry(address, opts.startTimeoutMs ?? 60_000),
      exitPromise.then(() => {
        const message = `Temporal dev server ${exited} before answering; see ${logFile}`;
        let log = '';
        try {
          log = readFileSync(logFile, 'utf8').slice(logStart);
        } catch {
          // no log to read: report the exit as it is
        }
        throw log.includes('address already in use') ? new PortRaceError(message) : new Error(message);
      }),
    ]);
    await ensureSearchAttributes(connection, opts.namespace ?? 'default');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://localhost:${uiPort}`,
    logFile,
    pid: child.pid ?? -1,
    connection,
    async stop() {
      await connection.close().catch(() => undefined);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
