import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { TaskClient } from '../api/task-client';
import { catalog, type Tasks } from '../examples/demo/catalog';
import { loadSettings } from '../config/settings';
import { findOrBuildTemporalCli, startDevServer } from '../temporal';
import { spawnWorker, type WorkerProcess, type WorkerRole } from '../workers/supervisor';

/** The demo project every bench runs (compiled benches live in dist/bench, two levels below the repo). */
export const DEMO_CONFIG = join(__dirname, '..', '..', 'examples', 'demo', 'tideway.config.ts');

/** A Temporal server, a TaskClient and real worker processes for one benchmark run. */
export interface BenchStack {
  readonly address: string;
  /** True when the bench started its own (embedded) dev server. */
  readonly startedServer: boolean;
  readonly dir: string;
  readonly ledger: string;
  readonly client: TaskClient<Tasks>;
  readonly temporal: Client;
  /** Starts a worker process with the bench environment plus `env`, and waits until it polls (`config` overrides the stack's project). */
  spawn(role: WorkerRole, env?: Record<string, string>, opts?: { config?: string }): Promise<WorkerProcess>;
  stop(): Promise<void>;
}

/**
 * Uses TEMPORAL_ADDRESS when set, otherwise starts its own headless dev server (SQLite in a temp
 * folder, free port) with Tideway's dynamic config, so a bench never touches a developer's server.
 */
export async function startBenchStack(
  name: string,
  say: (line: string) => void,
  opts: { interceptors?: WorkflowClientInterceptor[]; /** Project the workers load. @default the demo */ config?: string } = {},
): Promise<BenchStack> {
  const config = opts.config ?? DEMO_CONFIG;
  const settings = loadSettings();
  const dir = mkdtempSync(join(tmpdir(), `tideway-bench-${name}-`));
  let address = settings.temporalAddress;
  let stopServer = async () => undefined as void;
  if (!address) {
    const cli = await findOrBuildTemporalCli({
      explicit: settings.temporalCli,
      cacheDir: settings.cacheDir,
      searchPath: settings.searchPath,
    });
    const server = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
    address = server.address;
    stopServer = () => server.stop();
    say(`dev server ${address} (log ${server.logFile})`);
  } else {
    say(`using TEMPORAL_ADDRESS=${address}`);
  }
  const ledger = join(dir, 'ledger.jsonl');
  const workers: WorkerProcess[] = [];
  const connection = await Connection.connect({ address });
  const temporal = new Client({
    connection,
    namespace: settings.namespace,
    ...(opts.interceptors ? { interceptors: { workflow: opts.interceptors } } : {}),
  });
  // Admission off: benches time the path itself; bench:lanes builds the gates it measures.
  const client = new TaskClient({ client: temporal, catalog, admission: { kind: 'off' } });
  const addr = address;
  return {
    address: addr,
    startedServer: !settings.temporalAddress,
    dir,
    ledger,
    client,
    temporal,
    async spawn(role, env = {}, spawnOpts = {}) {
      const w = spawnWorker(role, {
        config: spawnOpts.config ?? config,
        address: addr,
        namespace: settings.namespace,
        env: { TIDEWAY_DEMO_LEDGER: ledger, TIDEWAY_LOG_LEVEL: 'warn', TIDEWAY_METRICS_HOST: '127.0.0.1', ...env },
        logFile: join(dir, 'workers.log'),
      });
      workers.push(w);
      await w.ready;
      return w;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.stop(15_000)));
      await connection.close();
      await stopServer();
    },
  };
}

/** The q-quantile (0..1) of a list of numbers, nearest-rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Runs `fn` over `items` with at most `n` at a time (submitting thousands of tasks without a stampede). */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Runs a benchmark's `main`: exit 0 when it finishes (worker handles must not keep it alive), 1 on error. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
