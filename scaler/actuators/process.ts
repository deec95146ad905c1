import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnWorker, workerLogName, type WorkerProcess } from '../../workers/supervisor';
import { ActuatorError } from '../errors';
import type { PoolKey, ScaledPool } from '../types';
import type { Actuator } from './actuator';

export interface ProcessActuatorOptions {
  /** The project's config module, passed on to every pool process (TIDEWAY_CONFIG). */
  config: string;
  /** Temporal address the pool processes connect to. */
  address: string;
  namespace?: string;
  /** Extra environment for pool processes (e.g. TIDEWAY_SHUTDOWN_GRACE_MS). */
  env?: Record<string, string>;
  /** Folder for pool logs (`pool-<group>-<lane>.log`); none when unset. */
  logDir?: string;
  /** SIGKILL a draining replica after this long. @default 40s */
  stopGraceMs?: number;
  /** How long a new replica may take to poll. @default 60s */
  readyTimeoutMs?: number;
  /**
   * JSON file listing the pids this actuator runs. A scaler that restarts adopts the live ones, so
   * a scaler crash leaves pools at their size instead of starting them over.
   */
  registryFile?: string;
}

/** One pool process, started here or adopted from a previous scaler. */
interface Replica {
  readonly pid: number;
  readonly ready: Promise<void>;
  alive(): boolean;
  stop(graceMs: number): Promise<unknown>;
}

function spawned(w: WorkerProcess): Replica {
  return {
    pid: w.pid,
    ready: w.ready,
    alive: () => w.child.exitCode === null && w.child.signalCode === null,
    stop: (grace) => w.stop(grace),
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `pid` is a Tideway pool process for `pool` (guards against pid reuse after a reboot). */
function isPoolProcess(pid: number, pool: ScaledPool): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.findIndex((a) => a.endsWith(join('workers', 'main.js')));
    return i >= 0 && argv[i + 1] === 'pool' && argv[i + 2] === pool.group && argv[i + 3] === pool.lane;
  } catch {
    return false;
  }
}

function adopted(pid: number): Replica {
  return {
    pid,
    ready: Promise.resolve(),
    alive: () => pidAlive(pid),
    async stop(grace) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      const deadline = Date.now() + grace;
      while (pidAlive(pid) && Date.now() < deadline) await sleep(200);
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}

/**
 * Process actuator (the default): runs each pool as local `node dist/workers/main.js pool <group>
 * <lane>` processes. Scale-up waits until new replicas poll; scale-down sends SIGTERM so in-flight
 * tasks finish (the drain) without holding up the next decision.
 */
export class ProcessActuator implements Actuator {
  readonly type = 'process' as const;
  private readonly running = new Map<PoolKey, Replica[]>();
  private readonly draining = new Set<Promise<unknown>>();

  constructor(private readonly opts: ProcessActuatorOptions) {}

  /** Adopts live pool processes listed in the registry file by a previous scaler; returns how many. */
  adopt(pools: readonly ScaledPool[]): number {
    const file = this.opts.registryFile;
    if (!file || !existsSync(file)) return 0;
    let n = 0;
    try {
      const reg = JSON.parse(readFileSync(file, 'utf8')) as { pools?: Record<string, number[]> };
      for (const p of pools) {
        const pids = (reg.pools?.[p.key] ?? []).filter((pid) => pidAlive(pid) && isPoolProcess(pid, p));
        this.running.set(p.key, pids.map(adopted));
        n += pids.length;
      }
    } catch {
      return 0; // a torn or foreign file: start from nothing rather than fail the scaler
    }
    return n;
  }

  private live(pool: ScaledPool): Replica[] {
    const list = (this.running.get(pool.key) ?? []).filter((r) => r.alive());
    this.running.set(pool.key, list);
    return list;
  }

  async replicas(pool: ScaledPool): Promise<number> {
    return this.live(pool).length;
  }

  async scale(pool: ScaledPool, n: number): Promise<void> {
    const list = this.live(pool);
    if (n > list.length) {
      const fresh: Replica[] = [];
      for (let i = list.length; i < n; i++) {
        const role = { role: 'pool' as const, group: pool.group, lane: pool.lane };
        const w = spawnWorker(role, {
          config: this.opts.config,
          address: this.opts.address,
          namespace: this.opts.namespace ?? 'default',
          ...(this.opts.env ? { env: this.opts.env } : {}),
          ...(this.opts.logDir ? { logFile: join(this.opts.logDir, workerLogName(role)) } : {}),
          readyTimeoutMs: this.opts.readyTimeoutMs ?? 60_000,
        });
        fresh.push(spawned(w));
      }
      list.push(...fresh);
      this.writeRegistry();
      const results = await Promise.allSettled(fresh.map((r) => r.ready));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) {
        fresh.forEach((r, i) => results[i]?.status === 'rejected' && void r.stop(0));
        throw new ActuatorError(
          'process',
          pool.key,
          `${failed.length} of ${fresh.length} new replicas failed to start: ${String(failed[0]?.reason)}`,
        );
      }
    } else if (n < list.length) {
      // Newest first: the oldest replicas have warm caches and are most likely mid-task.
      const victims = list.splice(n);
      this.writeRegistry();
      for (const v of victims) {
        const p = v.stop(this.opts.stopGraceMs ?? 40_000);
        this.draining.add(p);
        void p.finally(() => this.draining.delete(p));
      }
    }
  }

  /** Pids of a pool's replicas (for tests and the state file). */
  pids(pool: ScaledPool): number[] {
    return this.live(pool).map((r) => r.pid);
  }

  async close(opts: { stopPools?: boolean } = {}): Promise<void> {
    if (opts.stopPools) {
      for (const [key, list] of this.running) {
        this.running.set(key, []);
        for (const r of list) this.draining.add(r.stop(this.opts.stopGraceMs ?? 40_000));
      }
      this.writeRegistry();
    }
    await Promise.allSettled([...this.draining]);
  }

  private writeRegistry(): void {
    const file = this.opts.registryFile;
    if (!file) return;
    const pools: Record<string, number[]> = {};
    for (const [k, list] of this.running) pools[k] = list.map((r) => r.pid);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify({ pools }));
    renameSync(`${file}.tmp`, file);
  }
}
