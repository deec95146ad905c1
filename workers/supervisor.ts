import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Compiled entry of a worker process (see workers/main.ts). Worker processes always run the
 * compiled code, also when this module is loaded from TypeScript source (jest).
 */
export const WORKER_MAIN = __filename.endsWith('.ts') ? join(__dirname, '..', 'dist', 'workers', 'main.js') : join(__dirname, 'main.js');

export type WorkerRole = { role: 'control' } | { role: 'pool'; group: string; lane: string };

/** Log file name for a role, e.g. `pool-demo-normal.log`. */
export function workerLogName(r: WorkerRole): string {
  return r.role === 'control' ? 'control.log' : `pool-${r.group}-${r.lane}.log`;
}

export interface SpawnWorkerOptions {
  /** The project's config module (TIDEWAY_CONFIG of the child): the catalog and handlers it serves. */
  config: string;
  address: string;
  namespace?: string;
  /** Extra environment (e.g. TIDEWAY_DEMO_LEDGER, TIDEWAY_SHUTDOWN_GRACE_MS). */
  env?: Record<string, string>;
  /** Append the process's output here; otherwise it is dropped after the ready line. */
  logFile?: string;
  /** Reject `ready` if the worker has not started polling by then. @default 60s */
  readyTimeoutMs?: number;
}

/** Fields of the `worker:ready` line a worker prints (see workers/main.ts). */
export interface ReadyInfo {
  event: 'worker:ready';
  role: string;
  pid: number;
  /** Pools only: port serving /healthz and /metrics. */
  metricsPort?: number;
  [key: string]: unknown;
}

/** A worker process this process started. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  readonly role: WorkerRole;
  /** Resolves once the worker polls its queue. */
  readonly ready: Promise<void>;
  /** The parsed ready line: for pools it carries `metricsPort` (its /healthz and /metrics). */
  readonly readyInfo: Promise<ReadyInfo>;
  /** Resolves with the exit code or signal when the process ends. */
  readonly exited: Promise<number | string>;
  /** SIGTERM (drain), then SIGKILL after `forceAfterMs`. */
  stop(forceAfterMs?: number): Promise<number | string>;
  /** Immediate SIGKILL, as a crash would. */
  kill(): Promise<number | string>;
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

/** Number of worker processes this process has started that are still alive (leak checks). */
export function liveWorkerCount(): number {
  return [...live].filter((c) => c.exitCode === null && c.signalCode === null).length;
}

export function workerLabel(r: WorkerRole): string {
  return r.role === 'control' ? 'control' : `pool ${r.group}/${r.lane}`;
}

/** Starts `node dist/workers/main.js ...` and watches its stdout for the ready line. */
export function spawnWorker(r: WorkerRole, opts: SpawnWorkerOptions): WorkerProcess {
  const args = r.role === 'control' ? ['control'] : ['pool', r.group, r.lane];
  const child = spawn(process.execPath, [WORKER_MAIN, ...args], {
    env: {
      // eslint-disable-next-line no-restricted-properties -- the child inherits this process's environment
      ...process.env,
      TIDEWAY_CONFIG: opts.config,
      TEMPORAL_ADDRESS: opts.address,
      TEMPORAL_NAMESPACE: opts.namespace ?? 'default',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  hookExit();
  const label = workerLabel(r);
  const log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  child.stderr!.on('data', (b: Buffer) => log?.write(b));
  const exited = once(child, 'exit').then(([code, signal]) => {
    live.delete(child);
    log?.end();
    return (signal as string | null) ?? (code as number);
  });
  const readyInfo = new Promise<ReadyInfo>((resolve, reject) => {
    let stderrTail = '';
    child.stderr!.on('data', (b: Buffer) => (stderrTail = (stderrTail + b.toString()).slice(-2000)));
    const timer = setTimeout(
      () => reject(new Error(`${label} not ready after ${opts.readyTimeoutMs ?? 60_000}ms`)),
      opts.readyTimeoutMs ?? 60_000,
    );
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      log?.write(`${line}\n`);
      if (line.includes('"worker:ready"')) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as ReadyInfo);
        } catch {
          resolve({ event: 'worker:ready', role: r.role, pid: child.pid ?? -1 });
        }
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${how}) before it was ready: ${stderrTail.trim()}`));
    });
  });
  const ready = readyInfo.then(() => undefined);
  readyInfo.catch(() => undefined);
  ready.catch(() => undefined); // callers that never await `ready` must not crash on it
  const stop = async (forceAfterMs = 40_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), forceAfterMs);
    const how = await exited;
    clearTimeout(t);
    return how;
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  return { child, pid: child.pid ?? -1, label, role: r, ready, readyInfo, exited, stop, kill };
}
