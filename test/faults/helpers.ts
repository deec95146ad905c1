import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { TaskClient } from '../../api/task-client';
import { TERMINAL_STATUSES, type TaskStatus } from '../../config/names';
import type { Tasks } from '../../examples/demo/catalog';
import { freePort } from '../../temporal';
import { DEMO_CONFIG, readLedger, startStack, waitFor, type Stack, type StackOptions } from '../helpers/stack';

/**
 * Shared parts of the fault suite: a stack that also keeps the "done" ledger, the one ledger check
 * every scenario ends with, real API and scaler processes, and a TCP proxy that can cut a worker off.
 */

export const ROOT = join(__dirname, '..', '..');

export interface FaultStack extends Stack {
  /** One line per handler run that returned successfully (TIDEWAY_DEMO_DONE_LEDGER). */
  doneLedger: string;
  /** The stack's worker log file (every worker process appends to it). */
  workerLog: string;
}

/** startStack, plus the done ledger in the same folder as the run ledger. */
export async function faultStack(opts: StackOptions = {}): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-faults-'));
  const doneLedger = join(dir, 'done.jsonl');
  const stack = await startStack({ ...opts, env: { TIDEWAY_DEMO_DONE_LEDGER: doneLedger, ...opts.env } });
  return Object.assign(stack, { doneLedger, workerLog: join(dirname(stack.ledger), 'workers.log') });
}

export interface LedgerCheck {
  /** Task IDs the platform accepted (the submit answered yes, or a retry of it did). */
  accepted: readonly string[];
  client: TaskClient<Tasks>;
  temporal: Client;
  ledger: string;
  doneLedger: string;
  /** Status every accepted task must end in. @default 'succeeded' */
  status?: TaskStatus;
  /** How long the tasks may take to reach a terminal state. @default 120s */
  timeoutMs?: number;
  /**
   * The fault can end a run after its handler returned but before the server heard (a server
   * restart): Temporal then times the attempt out and runs it again, so the handler returns twice
   * (at-least-once) while the task records one result. With this set such tasks are counted in
   * `handlerReturnedTwice`, not failed; three or more returns still fail. @default false
   */
  atLeastOnce?: boolean;
}

export interface LedgerSummary {
  accepted: number;
  statuses: Record<string, number>;
  /** Handler runs (run ledger lines) of accepted tasks. */
  runs: number;
  /** Tasks whose handler ran more than once (retries after a fault: allowed, reported). */
  rerun: number;
  /** Tasks whose handler returned successfully twice (only with `atLeastOnce`). */
  handlerReturnedTwice: number;
}

/**
 * The check every scenario ends with, against ledgers kept outside Temporal (the demo handlers
 * append to them): every accepted task reached a terminal state (the expected one), none
 * succeeded twice (at most one successful handler return, exactly one if it succeeded), none was
 * lost (a succeeded task's handler really ran), and no task ID has two executions that ran a handler.
 * Throws one error listing every problem found.
 */
export async function checkLedger(c: LedgerCheck): Promise<LedgerSummary> {
  const want = c.status ?? 'succeeded';
  const ids = [...new Set(c.accepted)];
  const problems: string[] = [];
  let states = new Map<string, TaskStatus>();
  const read = async () => {
    const out = new Map<string, TaskStatus>();
    for (let i = 0; i < ids.length; i += 50) {
      const part = await Promise.all(ids.slice(i, i + 50).map(async (id) => [id, (await c.client.get(id)).status] as const));
      for (const [id, s] of part) out.set(id, s);
    }
    return out;
  };
  try {
    await waitFor(
      async () => {
        states = await read();
        return [...states.values()].every((s) => TERMINAL_STATUSES.includes(s));
      },
      c.timeoutMs ?? 120_000,
      'every accepted task to reach a terminal state',
    );
  } catch {
    const open = [...states].filter(([, s]) => !TERMINAL_STATUSES.includes(s));
    problems.push(
      `${open.length} task(s) never reached a terminal state: ${open
        .slice(0, 5)
        .map(([id, s]) => `${id}=${s}`)
        .join(', ')}`,
    );
  }
  const runs = readLedger(c.ledger);
  const dones = readLedger(c.doneLedger);
  const runsOf = countBy(runs.map((r) => r.taskId));
  const donesOf = countBy(dones.map((r) => r.taskId));
  const statuses: Record<string, number> = {};
  for (const id of ids) {
    const latest = states.get(id) ?? 'unknown';
    statuses[latest] = (statuses[latest] ?? 0) + 1;
    // A `duplicate` latest run (a plain client's start after success) reports the earlier success.
    const s = latest === 'duplicate' ? 'succeeded' : latest;
    if (s !== want && TERMINAL_STATUSES.includes(s as TaskStatus)) problems.push(`${id} ended ${s}, expected ${want}`);
    const d = donesOf.get(id) ?? 0;
    if (d > (c.atLeastOnce ? 2 : 1)) problems.push(`${id} succeeded ${d} times (done ledger)`);
    if (s === 'succeeded' && d === 0) problems.push(`${id} is succeeded but no handler run returned (lost)`);
    if (s === 'succeeded' && (runsOf.get(id) ?? 0) === 0) problems.push(`${id} is succeeded but its handler never ran (lost)`);
  }
  // Runs of task IDs nobody accepted would be tasks from nowhere (the ledger file is this stack's own).
  const stray = [...runsOf.keys()].filter((id) => !ids.includes(id) && !id.includes('/'));
  if (stray.length > 0) problems.push(`handler runs of ${stray.length} task ID(s) never accepted: ${stray.slice(0, 5).join(', ')}`);
  // Every accepted ID has an execution (more than one only through plain clients' late starts, which
  // end `duplicate` without a handler run: the done ledger above would show a second success).
  for (let i = 0; i < ids.length; i += 100) {
    const part = ids.slice(i, i + 100);
    const query = `WorkflowId IN (${part.map((id) => `'${id.replaceAll("'", "\\'")}'`).join(',')})`;
    const seen = new Map<string, number>();
    for await (const w of c.temporal.workflow.list({ query })) seen.set(w.workflowId, (seen.get(w.workflowId) ?? 0) + 1);
    for (const id of part) {
      const n = seen.get(id) ?? 0;
      if (n === 0) problems.push(`${id} has no workflow execution`);
    }
  }
  if (problems.length > 0) throw new Error(`ledger check failed (${problems.length} problems):\n${problems.slice(0, 30).join('\n')}`);
  return {
    accepted: ids.length,
    statuses,
    runs: runs.filter((r) => ids.includes(r.taskId)).length,
    rerun: [...runsOf.values()].filter((n) => n > 1).length,
    handlerReturnedTwice: ids.filter((id) => (donesOf.get(id) ?? 0) === 2).length,
  };
}

function countBy(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** A child process of this test (API, scaler) with its output appended to a log file. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  log: string;
  exited: Promise<unknown>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnNode(script: string, args: string[], env: Record<string, string>, log: string): Child {
  const proc = spawn(process.execPath, [join(ROOT, 'dist', script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(log, { flags: 'a' });
  proc.stdout.pipe(out);
  proc.stderr.pipe(out);
  const exited = once(proc, 'exit');
  return {
    proc,
    pid: proc.pid!,
    log,
    exited,
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
  };
}

/** Starts the HTTP API as its own process (node dist/api/http/main.js) and waits for /healthz. */
export async function spawnApi(opts: {
  /** The Temporal server the API connects to (a TcpProxy's address to cut it off). */
  address: string;
  keys: string;
  port?: number;
  log: string;
  env?: Record<string, string>;
}) {
  const port = opts.port ?? (await freePort());
  const child = spawnNode(
    'api/http/main.js',
    [],
    {
      TIDEWAY_CONFIG: DEMO_CONFIG,
      TEMPORAL_ADDRESS: opts.address,
      TIDEWAY_PORT: String(port),
      TIDEWAY_HOST: '127.0.0.1',
      TIDEWAY_API_KEYS: opts.keys,
      TIDEWAY_LOG_LEVEL: 'info',
      ...opts.env,
    },
    opts.log,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`API exited: ${tail(opts.log)}`);
      return (await fetch(`${url}/healthz`)).ok;
    },
    60_000,
    'the API process to answer /healthz',
  );
  return { ...child, url, port };
}

export function tail(file: string, n = 2_000): string {
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-n) : '';
}

/**
 * A TCP proxy between a worker and the Temporal server. `cut()` stops forwarding in both directions
 * and leaves new connections unanswered (a black hole, as a partition looks to the worker);
 * `heal()` forwards again.
 */
export class TcpProxy {
  private server: Server | undefined;
  private cutOff = false;
  private muted = false;
  /** Bytes towards the server still to forward before replies are muted (muteRepliesAfter). */
  private muteAfter: number | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly held = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((down) => {
      down.on('error', () => undefined);
      if (this.cutOff) {
        this.held.add(down);
        down.pause();
        return;
      }
      this.pipe(down);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
  }

  private pipe(down: Socket): void {
    const up = connect(this.target.port, this.target.host);
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    const pair: [Socket, Socket] = [down, up];
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      up.destroy();
      down.destroy();
    };
    up.on('close', close);
    down.on('close', close);
    down.on('data', (b: Buffer) => {
      if (this.cutOff) return;
      up.write(b);
      if (this.muteAfter !== undefined && (this.muteAfter -= b.length) <= 0) {
        this.muteAfter = undefined;
        this.muted = true;
      }
    });
    up.on('data', (b) => {
      if (!this.cutOff && !this.muted) down.write(b);
    });
  }

  /** Drops the server's answers from now on: requests still arrive and take effect, no reply returns. */
  muteReplies(): void {
    this.muted = true;
  }

  /**
   * Mutes replies once `bytes` more have gone towards the server: lets small calls through and
   * catches the first big request (e.g. a bulk chunk's start) after it was sent, before its reply.
   */
  muteRepliesAfter(bytes: number): void {
    this.muteAfter = bytes;
  }

  /** Drops every byte both ways from now on, on open and new connections alike. */
  cut(): void {
    this.cutOff = true;
  }

  /**
   * Forwards again. Bytes dropped during the cut are gone, so open connections are closed (as a
   * long partition ends them: keepalives fail) and held ones get a fresh upstream.
   */
  heal(): void {
    this.cutOff = false;
    for (const [down, up] of this.pairs) {
      down.destroy();
      up.destroy();
    }
    for (const s of this.held) {
      this.held.delete(s);
      s.resume();
      this.pipe(s);
    }
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    for (const s of this.held) s.destroy();
    await new Promise((r) => this.server?.close(r) ?? r(undefined));
  }
}
