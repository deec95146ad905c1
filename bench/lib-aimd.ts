import type { Tasks } from '../examples/demo/catalog';
import type { TaskClient } from '../api/task-client';
import type { WorkerProcess, WorkerRole } from '../workers/supervisor';
import { hitStats, startLimitedServer, type HitStats } from './lib-limited-server';

/** What the scenario needs from a stack (the bench's or the integration tests'). */
export interface ScenarioStack {
  client: TaskClient<Tasks>;
  spawn(role: WorkerRole, env?: Record<string, string>, opts?: { config?: string }): Promise<WorkerProcess>;
}

export interface AimdScenarioOptions {
  /** Run the pool with adaptive concurrency (else fixed at the pool's `concurrency`). */
  aimd: boolean;
  /** Start the pool from this project instead of the stack's (bench:aimd's static `rateLimit` policy). */
  config?: string;
  tasks: number;
  capacityRps: number;
  latencyMs: number;
  /** Seconds skipped at the start before the steady-state figures. @default 5 */
  warmupSeconds?: number;
}

export interface AimdScenarioResult {
  aimd: boolean;
  capacityRps: number;
  tasks: number;
  /** Tasks that did not succeed. */
  failed: number;
  durationMs: number;
  /** From warm-up end until 90% of the tasks had succeeded (the backlog is still there). */
  steady: HitStats;
  overall: HitStats;
  /** The pool's slot limit sampled every 500 ms (from its /metrics). */
  limits: number[];
}

async function slotLimit(port: number): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tideway_pool_slots{') && l.includes('kind="limit"'));
  return line ? Number(line.split(' ').at(-1)) : undefined;
}

/**
 * The 429 scenario: a fresh demo/normal pool process sends `tasks` demo.http GETs to a local
 * server that accepts `capacityRps`; returns the rate it achieved and how many 429s it caused.
 */
export async function runAimdScenario(stack: ScenarioStack, opts: AimdScenarioOptions): Promise<AimdScenarioResult> {
  const server = await startLimitedServer({ capacityRps: opts.capacityRps, latencyMs: opts.latencyMs, retryAfterSeconds: 1 });
  const pool = await stack.spawn(
    { role: 'pool', group: 'demo', lane: 'normal' },
    { TIDEWAY_AIMD: opts.aimd ? '1' : '0', BENCH_POOL_RATE_LIMIT: String(opts.capacityRps) },
    opts.config ? { config: opts.config } : {},
  );
  const port = (await pool.readyInfo).metricsPort;
  const limits: number[] = [];
  const sampler = setInterval(() => {
    if (port !== undefined)
      void slotLimit(port).then(
        (l) => l !== undefined && limits.push(l),
        () => undefined,
      );
  }, 500);
  const started = Date.now();
  const doneAt: number[] = [];
  let failed = 0;
  try {
    const ids = await Promise.all(
      Array.from({ length: opts.tasks }, async (_, i) => {
        const r = await stack.client.submit('demo.http', { url: `${server.url}?n=${i}` });
        return r.taskId;
      }),
    );
    await Promise.all(
      ids.map((id) =>
        stack.client.result(id).then(
          () => doneAt.push(Date.now()),
          () => {
            failed++;
          },
        ),
      ),
    );
  } finally {
    clearInterval(sampler);
    await pool.stop(15_000);
    await server.close();
  }
  const durationMs = Date.now() - started;
  doneAt.sort((a, b) => a - b);
  const first = server.hits[0]?.at ?? started;
  const from = first + (opts.warmupSeconds ?? 5) * 1000;
  const to = doneAt[Math.floor(doneAt.length * 0.9)] ?? Date.now();
  return {
    aimd: opts.aimd,
    capacityRps: opts.capacityRps,
    tasks: opts.tasks,
    failed,
    durationMs,
    steady: hitStats(server.hits, from, Math.max(to, from + 1_000)),
    overall: hitStats(server.hits),
    limits,
  };
}
