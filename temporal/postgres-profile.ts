import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { TidewayError } from '../config/errors';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import { connectWithRetry, ensureSearchAttributes } from './connection';
import { DEV_SERVER_DYNAMIC_CONFIG, freePort, portInUse } from './dev-server';
import { findOrBuildTemporalServer, TEMPORAL_SERVER_VERSION } from './server-binary';

/** The server's four services, each its own process with `splitServices`. */
export const TEMPORAL_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

/**
 * Dynamic config of the postgres profile: Tideway's (the dev server's) values, plus the two the
 * Temporal CLI's dev server sets by default that Tideway relies on: the dev server allows 100
 * visibility calls/s per namespace (the server default is 10, which lists and counts under test
 * load exceed). Everything else is the standalone server's default, as in a team's cluster.
 */
export const POSTGRES_PROFILE_DYNAMIC_CONFIG: Readonly<Record<string, string>> = {
  ...DEV_SERVER_DYNAMIC_CONFIG,
  'frontend.namespaceRPS.visibility': '100',
};

/** Frontend mTLS for the profile's server (files in PEM); the server then requires a client certificate. */
const TlsFilesSchema = z.object({
  serverCert: z.string().min(1),
  serverKey: z.string().min(1),
  /** CA that signed the client certificates (and the server's, for the system worker's client). */
  ca: z.string().min(1),
  /** Certificate the server's own worker service presents to the frontend. */
  clientCert: z.string().min(1),
  clientKey: z.string().min(1),
  /** Name in the server certificate. @default "localhost" */
  serverName: z.string().min(1).default('localhost'),
});

export const PostgresProfileOptionsSchema = z.object({
  /** Parent folder; the profile lives in a fresh `cluster-*` folder under it, removed on stop. */
  dataDir: z.string().min(1),
  /** Where the server build is cached. */
  cacheDir: z.string().min(1),
  /** PATH, for `go`. */
  searchPath: z.string(),
  /** History shards; fixed for the life of the (throwaway) database. */
  shards: z.number().int().min(1).max(16_384).default(4),
  /** Run frontend, history, matching and worker as four processes. */
  splitServices: z.boolean().default(false),
  /** Frontend gRPC port; 0 picks a free one. */
  port: z.number().int().min(0).max(65_535).default(7233),
  namespace: z.string().min(1).default('default'),
  tls: TlsFilesSchema.optional(),
  /** How long to wait for the server to answer once started. */
  startTimeoutMs: z.number().int().positive().default(180_000),
});
export type PostgresProfileOptions = z.input<typeof PostgresProfileOptionsSchema>;

/** Thrown when PostgreSQL cannot be installed or started, or the schema cannot be set up. */
export class PostgresProfileError extends TidewayError {
  readonly type = 'PostgresProfileError';
}

/** A running postgres profile; `stop()` ends every process and removes its folder. */
export interface PostgresProfile {
  readonly address: string;
  readonly namespace: string;
  readonly folder: string;
  readonly postgresPort: number;
  readonly shards: number;
  readonly processes: readonly { service: string; pid: number; logFile: string }[];
  readonly connection: Connection;
  stop(): Promise<void>;
}

type Say = (line: string) => void;

// --- PostgreSQL ----------------------------------------------------------------------------------

/** Debian keeps each major version's binaries in /usr/lib/postgresql/<major>/bin; take the newest. */
function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((d) => existsSync(join(root, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(root, majors[0], 'bin');
}

/** PostgreSQL's binaries, installing Debian's `postgresql` with apt-get when missing (root only). */
export function ensurePostgresInstalled(say: Say): string {
  const found = findPostgresBin();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new PostgresProfileError('PostgreSQL is not installed and this is not root: run `sudo apt-get install -y postgresql` once.');
  }
  say('Installing PostgreSQL with apt-get (once per machine)...');
  const env = { ...childEnv(), DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, encoding: 'utf8' });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { env, encoding: 'utf8' });
  }
  const bin = findPostgresBin();
  if (r.status !== 0 || !bin)
    throw new PostgresProfileError(`apt-get install postgresql failed:\n${(r.stderr || r.stdout || '').slice(-2000)}`);
  return bin;
}

function childEnv(): NodeJS.ProcessEnv {
  // eslint-disable-next-line no-restricted-properties -- passing the environment on to child processes
  return process.env;
}

/** PostgreSQL refuses to run as root: as root, its processes run as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0)
    throw new PostgresProfileError('running as root but there is no `postgres` user to run PostgreSQL as');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function waitForPort(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    for (;;) {
      const gone = exited();
      if (gone) throw new PostgresProfileError(gone);
      const ok = await new Promise<boolean>((res) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), res(true)));
        s.once('error', () => res(false));
      });
      if (ok) return;
      if (Date.now() > deadline) throw new PostgresProfileError(`nothing answered on 127.0.0.1:${port} within ${timeoutMs / 1000}s`);
      await sleep(200);
    }
  })();
}

// --- server config -------------------------------------------------------------------------------

interface Ports {
  frontend: number;
  postgres: number;
  rpc: Record<TemporalService, number>;
  membership: Record<TemporalService, number>;
}

function yamlScalar(v: string): string {
  // Dynamic config values are YAML scalars: numbers and booleans stay typed.
  return /^(true|false|-?\d+(\.\d+)?)$/.test(v) ? v : JSON.stringify(v);
}

export function dynamicConfigYaml(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}:\n  - value: ${yamlScalar(v)}\n`)
    .join('');
}

function serverConfigYaml(o: {
  shards: number;
  ports: Ports;
  dynamicConfigFile: string;
  tls: z.infer<typeof TlsFilesSchema> | undefined;
}): string {
  const q = (s: string) => JSON.stringify(s);
  const store = (db: string, conns: number) => `      sql:
        pluginName: "postgres12"
        databaseName: ${q(db)}
        connectAddr: "127.0.0.1:${o.ports.postgres}"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: "1h"`;
  const services = TEMPORAL_SERVICES.map(
    (s) => `  ${s}:
    rpc:
      grpcPort: ${o.ports.rpc[s]}
      membershipPort: ${o.ports.membership[s]}
      bindOnLocalHost: true${s === 'frontend' ? '\n      httpPort: 0' : ''}`,
  ).join('\n');
  const t = o.tls;
  // The frontend requires a client certificate; the server's own worker service dials it as a client.
  const tls = t
    ? `  tls:
    frontend:
      server:
        certFile: ${q(t.serverCert)}
        keyFile: ${q(t.serverKey)}
        clientCaFiles: [${q(t.ca)}]
        requireClientAuth: true
      client:
        serverName: ${q(t.serverName)}
        rootCaFiles: [${q(t.ca)}]
    systemWorker:
      certFile: ${q(t.clientCert)}
      keyFile: ${q(t.clientKey)}
      client:
        serverName: ${q(t.serverName)}
        rootCaFiles: [${q(t.ca)}]
`
    : '';
  return `log:
  stdout: true
  level: warn
  format: json

persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: ${o.shards}
  datastores:
    default:
${store('temporal', 20)}
    visibility:
${store('temporal_visibility', 10)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
${tls}
services:
${services}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${o.ports.frontend}"

dcRedirectionPolicy:
  policy: "noop"

publicClient:
  hostPort: "127.0.0.1:${o.ports.frontend}"

dynamicConfigClient:
  filepath: ${q(o.dynamicConfigFile)}
  pollInterval: "10s"
`;
}

// --- processes -----------------------------------------------------------------------------------

interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  status: () => string | undefined;
}

const live = new Set<{ children: Child[]; folder: string }>();
let exitHook = false;
function cleanUpOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  // 'exit' handlers are synchronous: kill what is left and remove the throwaway folder.
  process.on('exit', () => {
    for (const p of live) {
      for (const c of p.children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      rmSync(p.folder, { recursive: true, force: true });
    }
  });
}

function startChild(
  name: string,
  cmd: string,
  args: string[],
  logFile: string,
  extra: { cwd?: string; uid?: number; gid?: number },
): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...childEnv(), HOME: extra.cwd ?? '/tmp' }, ...extra });
  closeSync(fd);
  let status: string | undefined;
  const exited = new Promise<void>((res) => {
    proc.once('exit', (code, signal) => {
      // The folder goes with a failed start: keep the log's tail in the message.
      status = `${name} exited with ${signal ?? code}; last log lines:\n${tailOf(logFile)}`;
      res();
    });
    proc.once('error', (err) => {
      status = `${name} could not start: ${err.message}`;
      res();
    });
  });
  return { name, proc, logFile, exited, status: () => status };
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '(no log)';
  }
}

async function stopChild(c: Child, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (c.status() !== undefined) return;
  c.proc.kill(signal);
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

function run(cmd: string, args: string[], what: string, extra: { uid?: number; gid?: number; cwd?: string } = {}): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...childEnv(), HOME: extra.cwd ?? '/tmp' }, ...extra });
  if (r.status !== 0)
    throw new PostgresProfileError(`${what} failed (exit ${r.status ?? r.signal}):\n${(r.stderr || r.stdout || '').slice(-3000)}`);
}

/**
 * A free port below 32768: the cluster_membership table stores rpc ports as smallint, and the
 * OS's ephemeral ports (freePort) lie above that.
 */
const taken = new Set<number>();
async function lowPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(p) || (await portInUse(p))) continue;
    taken.add(p);
    return p;
  }
  throw new PostgresProfileError('no free port between 20000 and 32000');
}

// --- the profile ---------------------------------------------------------------------------------

/**
 * Starts a production-shaped local Temporal: a throwaway PostgreSQL cluster under `dataDir`, the
 * standalone server (`shards` history shards, SQL visibility on PostgreSQL, Tideway's dynamic
 * config) as one process or four, the namespace and Tideway's search attributes registered.
 */
export async function startPostgresProfile(input: PostgresProfileOptions, say: Say = () => undefined): Promise<PostgresProfile> {
  const o = PostgresProfileOptionsSchema.parse(input);
  const pgBin = ensurePostgresInstalled(say);
  const bins = await findOrBuildTemporalServer({ cacheDir: o.cacheDir, searchPath: o.searchPath, say });

  const frontend = o.port === 0 ? await freePort() : o.port;
  if (await portInUse(frontend))
    throw new PostgresProfileError(`port ${frontend} is already in use; pick another with TIDEWAY_TEMPORAL_PORT`);
  const ports: Ports = {
    frontend,
    postgres: await freePort(),
    rpc: { frontend, history: await freePort(), matching: await freePort(), worker: await freePort() },
    membership: { frontend: await lowPort(), history: await lowPort(), matching: await lowPort(), worker: await lowPort() },
  };

  mkdirSync(o.dataDir, { recursive: true });
  const folder = mkdtempSync(join(resolve(o.dataDir), 'cluster-'));
  // PostgreSQL runs as its own user: it must pass through the data folder (search permission only).
  if (process.getuid?.() === 0) chmodSync(o.dataDir, statSync(o.dataDir).mode | 0o011);
  chmodSync(folder, 0o755);
  const state = { children: [] as Child[], folder };
  live.add(state);
  cleanUpOnExit();

  const stop = async () => {
    for (const c of state.children.filter((c) => c.name !== 'postgres')) await stopChild(c, 'SIGTERM', 15_000);
    // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, then exit.
    for (const c of state.children.filter((c) => c.name === 'postgres')) await stopChild(c, 'SIGINT', 15_000);
    rmSync(folder, { recursive: true, force: true });
    live.delete(state);
  };

  try {
    const pgData = join(folder, 'pgdata');
    mkdirSync(pgData, { mode: 0o700 });
    const user = postgresUser();
    if (user) chownSync(pgData, user.uid, user.gid);
    if (user && spawnSync('test', ['-w', pgData], { uid: user.uid, gid: user.gid }).status !== 0) {
      // A parent folder the postgres user cannot pass through (e.g. under /root, mode 700).
      throw new PostgresProfileError(
        `the postgres user cannot reach ${pgData}: a parent folder is not searchable by others. ` +
          'Set TIDEWAY_DATA_DIR to a folder under /tmp (or make its parents o+x).',
      );
    }
    const asPg = { ...(user ?? {}), cwd: folder };
    say(`Starting PostgreSQL on 127.0.0.1:${ports.postgres} (data in ${pgData})...`);
    run(join(pgBin, 'initdb'), ['-D', pgData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], 'initdb', asPg);
    const pgLog = join(folder, 'postgres.log');
    writeFileSync(pgLog, '');
    if (user) chownSync(pgLog, user.uid, user.gid);
    // Run in the foreground as a child (what `pg_ctl start` would daemonize), so it ends with us.
    // synchronous_commit=off: a crash may lose the last commits, never corrupt (throwaway data).
    const pg = startChild(
      'postgres',
      join(pgBin, 'postgres'),
      [
        '-D',
        pgData,
        '-p',
        String(ports.postgres),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'max_connections=300',
        '-c',
        'synchronous_commit=off',
      ],
      pgLog,
      asPg,
    );
    state.children.push(pg);
    await waitForPort(ports.postgres, 60_000, pg.status);

    say('Setting up the temporal and temporal_visibility schemas...');
    const tool = (db: string, ...args: string[]) =>
      run(
        bins.sqlTool,
        ['--ep', '127.0.0.1', '-p', String(ports.postgres), '-u', 'postgres', '--pl', 'postgres12', '--db', db, ...args],
        `schema tool (${db} ${args[0]})`,
      );
    for (const [db, schema] of [
      ['temporal', 'postgresql/v12/temporal'],
      ['temporal_visibility', 'postgresql/v12/visibility'],
    ] as const) {
      tool(db, 'create');
      tool(db, 'setup-schema', '-v', '0.0');
      tool(db, 'update-schema', '--schema-name', schema);
    }

    const configDir = join(folder, 'config');
    mkdirSync(configDir);
    const dynamicConfigFile = join(configDir, 'dynamicconfig.yaml');
    writeFileSync(dynamicConfigFile, dynamicConfigYaml(POSTGRES_PROFILE_DYNAMIC_CONFIG));
    writeFileSync(join(configDir, 'development.yaml'), serverConfigYaml({ shards: o.shards, ports, dynamicConfigFile, tls: o.tls }));

    const groups: (readonly TemporalService[])[] = o.splitServices ? TEMPORAL_SERVICES.map((s) => [s]) : [TEMPORAL_SERVICES];
    for (const services of groups) {
      const name = o.splitServices ? `temporal-${services[0]}` : 'temporal';
      const args = ['--root', folder, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'];
      for (const s of services) args.push('--service', s);
      state.children.push(startChild(name, bins.server, args, join(folder, `${name}.log`), { cwd: folder }));
    }
    say(`Starting Temporal server ${TEMPORAL_SERVER_VERSION} (${o.shards} shards${o.splitServices ? ', four processes' : ''})...`);

    const address = `127.0.0.1:${frontend}`;
    const security = o.tls
      ? { tls: true, tlsCert: o.tls.clientCert, tlsKey: o.tls.clientKey, tlsCa: o.tls.ca, tlsServerName: o.tls.serverName }
      : undefined;
    const failed = () => state.children.map((c) => c.status()).find((s) => s !== undefined);
    const connection = await Promise.race([
      connectWithRetry(address, o.startTimeoutMs, security),
      (async () => {
        for (;;) {
          const f = failed();
          if (f) throw new PostgresProfileError(f);
          await sleep(500);
        }
      })(),
    ]);
    await registerNamespace(connection, o.namespace, o.startTimeoutMs, say);

    return {
      address,
      namespace: o.namespace,
      folder,
      postgresPort: ports.postgres,
      shards: o.shards,
      processes: state.children.map((c) => ({ service: c.name, pid: c.proc.pid ?? -1, logFile: c.logFile })),
      connection,
      async stop() {
        await connection.close().catch(() => undefined);
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The standalone server starts with no namespace: register it, then Tideway's search attributes
 * (SQL visibility maps them to its Keyword columns), and wait until a query on them is accepted —
 * each frontend caches namespaces and search attributes for a few seconds.
 */
async function registerNamespace(connection: Connection, namespace: string, timeoutMs: number, say: Say): Promise<void> {
  say(`Registering namespace ${namespace} and Tideway's search attributes...`);
  const deadline = Date.now() + timeoutMs;
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw new PostgresProfileError(`${what}: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  };
  await retry('register namespace', async () => {
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') });
    } catch (err) {
      // ALREADY_EXISTS (6): a retry after a registration whose answer was lost.
      if ((err as { code?: number }).code !== 6) throw err;
    }
  });
  await retry('add search attributes', () => ensureSearchAttributes(connection, namespace));
  const probe = SEARCH_ATTRIBUTES.map((sa) => `${sa} = 'x'`).join(' AND ');
  await retry('query the search attributes', () => connection.workflowService.countWorkflowExecutions({ namespace, query: probe }));
}
