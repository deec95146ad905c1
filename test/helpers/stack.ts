import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { TaskClient } from '../../api/task-client';
import { catalog, type Tasks } from '../../examples/demo/catalog';
import { liveWorkerCount, spawnWorker, type WorkerProcess, type WorkerRole } from '../../workers/supervisor';

/** The demo project's config module: what every test's worker processes load (TIDEWAY_CONFIG). */
export const DEMO_CONFIG = join(__dirname, '..', '..', 'examples', 'demo', 'tideway.config.ts');

/** Address of the dev server the integration run started (see global-setup.ts). */
export function testAddress(): string {
  const a = process.env.TIDEWAY_TEST_TEMPORAL_ADDRESS;
  if (!a) throw new Error('TIDEWAY_TEST_TEMPORAL_ADDRESS unset: run integration tests through jest (global setup)');
  return a;
}

export interface LedgerEntry {
  taskId: string;
  type: string;
  attempt: number;
  pid: number;
  at: number;
}

/** Reads the demo handlers' execution ledger: one line per real handler run, kept outside Temporal. */
export function readLedger(file: string): LedgerEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LedgerEntry);
}

export interface Stack {
  address: string;
  client: TaskClient<Tasks>;
  temporal: Client;
  ledger: string;
  workers: WorkerProcess[];
  /** Starts one more worker process with the stack's environment. */
  spawn(role: WorkerRole, env?: Record<string, string>): Promise<WorkerProcess>;
  ledgerFor(taskId: string): LedgerEntry[];
  stop(): Promise<void>;
}

export interface StackOptions {
  address?: string;
  /** Pools to start, e.g. [['demo','normal']]. @default every demo lane */
  pools?: [string, string][];
  control?: boolean;
  env?: Record<string, string>;
  /** Config module the workers load. @default the demo's */
  config?: string;
  /** TLS and API key of the stack's own client connection (the workers take theirs from the config). @default plaintext */
  connection?: Omit<ConnectionOptions, 'address'>;
}

/** Real worker processes (control + pools) against the test server, and a TaskClient. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const address = opts.address ?? testAddress();
  const dir = mkdtempSync(join(tmpdir(), 'tideway-stack-'));
  const ledger = join(dir, 'ledger.jsonl');
  const env = { TIDEWAY_DEMO_LEDGER: ledger, TIDEWAY_LOG_LEVEL: 'warn', ...opts.env };
  const workers: WorkerProcess[] = [];
  const spawn = async (role: WorkerRole, extra: Record<string, string> = {}) => {
    const w = spawnWorker(role, {
      config: opts.config ?? DEMO_CONFIG,
      address,
      env: { ...env, ...extra },
      logFile: join(dir, 'workers.log'),
    });
    workers.push(w);
    await w.ready;
    return w;
  };
  const roles: WorkerRole[] = [];
  if (opts.control !== false) roles.push({ role: 'control' });
  for (const [group, lane] of opts.pools ??
    catalog.pools.filter((p) => p.group === 'demo').map((p) => [p.group, p.lane] as [string, string])) {
    roles.push({ role: 'pool', group, lane });
  }
  let connection: Connection;
  try {
    await Promise.all(roles.map((r) => spawn(r)));
    connection = await Connection.connect({ ...opts.connection, address });
  } catch (err) {
    // A stack that failed to start leaves no worker behind (the caller never gets `stop`).
    await Promise.all(workers.map((w) => w.stop(10_000)));
    throw err;
  }
  const temporal = new Client({ connection, namespace: 'default' });
  // Tests time their own submits; admission has its own tests (unit, api and lanes), so the shared
  // client starts at once instead of through the adaptive default.
  const client = new TaskClient({ client: temporal, catalog, admission: { kind: 'off' } });
  return {
    address,
    client,
    temporal,
    ledger,
    workers,
    spawn,
    ledgerFor: (id) => readLedger(ledger).filter((e) => e.taskId === id),
    async stop() {
      await Promise.all(workers.map((w) => w.stop(10_000)));
      await connection.close();
    },
  };
}

/**
 * One stack for a whole test file: started in `beforeAll`, stopped in `afterAll` followed by the
 * leak check. Use the returned object only inside tests and hooks (it forwards to the live stack).
 */
export function useStack(opts: StackOptions = {}): Stack {
  let live: Stack | undefined;
  beforeAll(async () => {
    live = await startStack(opts);
  });
  afterAll(async () => {
    await live?.stop();
    expectNoLeakedWorkers();
  });
  return new Proxy({} as Stack, {
    get(_target, key) {
      if (!live) throw new Error('the test stack is used before beforeAll started it');
      return Reflect.get(live, key);
    },
  });
}

/** Fails the test file if it left worker processes running (leak check). */
export function expectNoLeakedWorkers(): void {
  expect(liveWorkerCount()).toBe(0);
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (waits on state, not sleeps). */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
