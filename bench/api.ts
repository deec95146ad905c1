import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ApiKeyStore } from '../api/http/auth';
import { buildApiServer } from '../api/http/server';
import { TaskClient } from '../api/task-client';
import { catalog } from '../examples/demo/catalog';
import { loadSettings } from '../config/settings';
import { findOrBuildTemporalCli, startDevServer, type DevServer } from '../temporal';

/**
 * `npm run bench:api`: submit throughput and latency of `POST /v1/tasks` (concurrent single
 * requests) and of accepting one 1,000-task bulk request, beside `TaskClient.submit` in the same process
 * against the same server. Only starts are measured (no workers), so the numbers are the edge's cost.
 */

const N = Number(process.env.BENCH_N ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const KEY = 'bench-key-0001';

interface Figures {
  name: string;
  n: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function measure(name: string, n: number, concurrency: number, one: (i: number) => Promise<void>): Promise<Figures> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { name, n, seconds, perSecond: n / seconds, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function main(): Promise<void> {
  const settings = loadSettings();
  let server: DevServer | undefined;
  let address = settings.temporalAddress;
  if (!address) {
    const dir = mkdtempSync(join(tmpdir(), 'tideway-bench-api-'));
    const cli = await findOrBuildTemporalCli({
      explicit: settings.temporalCli,
      cacheDir: settings.cacheDir,
      searchPath: settings.searchPath,
    });
    server = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
    address = server.address;
  }
  const connection = await Connection.connect({ address });
  // Admission off on both paths: this bench measures what the edge costs, not how fast a lane may go.
  const client = new TaskClient({ client: new Client({ connection, namespace: settings.namespace }), catalog, admission: { kind: 'off' } });
  // Production settings: backpressure on (its stats are cached), no fastify request log.
  const api = await buildApiServer({ client, keys: ApiKeyStore.parse(`bench=${KEY}`) });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = api.app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const run = `${Date.now().toString(36)}`;
  const post = async (path: string, body: unknown): Promise<void> => {
    const r = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await r.arrayBuffer();
    if (r.status !== 201 && r.status !== 200) throw new Error(`${path} → ${r.status}`);
  };

  // Warm both paths (connections, JIT) before measuring.
  await measure('warmup', 64, 16, (i) =>
    client.submit('demo.echo', { i }, { taskId: `bw-tc-${run}-${i}`, tenant: 'bench' }).then(() => undefined),
  );
  await measure('warmup', 64, 16, (i) => post('/v1/tasks', { type: 'demo.echo', input: { i }, taskId: `bw-http-${run}-${i}` }));

  const results: Figures[] = [];
  const viaClient = (round: number) =>
    measure(`TaskClient.submit (r${round})`, N, CONCURRENCY, async (i) => {
      await client.submit('demo.echo', { i }, { taskId: `b-tc-${run}-${round}-${i}`, tenant: 'bench' });
    });
  const viaHttp = (round: number) =>
    measure(`POST /v1/tasks (r${round})`, N, CONCURRENCY, (i) =>
      post('/v1/tasks', { type: 'demo.echo', input: { i }, taskId: `b-http-${run}-${round}-${i}` }),
    );
  // ABBA order with a pause between runs: the server is still dispatching the previous run's 1,000
  // starts for a few seconds, so whichever path goes second pays for it; each path goes second once.
  for (const [round, first, second] of [
    [1, viaClient, viaHttp],
    [2, viaHttp, viaClient],
  ] as const) {
    for (const path of [first, second]) {
      await sleep(3000);
      results.push(await path(round));
    }
  }
  const bulkBody = { tasks: Array.from({ length: 1000 }, (_, i) => ({ type: 'demo.echo', input: { i }, taskId: `b-bulk-${run}-${i}` })) };
  // A bulk is accepted durably (one start per chunk of 500); its tasks start later, in the intake.
  const bulk = await measure('POST /v1/tasks:bulk accept (1 × 1,000)', 1, 1, () => post('/v1/tasks:bulk', bulkBody));
  results.push({ ...bulk, n: 1000, perSecond: 1000 / bulk.seconds });

  const sum = (prefix: string) => {
    const rows = results.filter((r) => r.name.startsWith(prefix));
    return rows.reduce((a, r) => a + r.n, 0) / rows.reduce((a, r) => a + r.seconds, 0);
  };
  const tc = sum('TaskClient.submit');
  const http = sum('POST /v1/tasks (');
  process.stdout.write(`\nsubmit benchmark: ${N} tasks per run, concurrency ${CONCURRENCY}, Temporal ${address}\n\n`);
  process.stdout.write(`${'path'.padEnd(36)}${'tasks/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}\n`);
  for (const r of results) {
    process.stdout.write(
      `${r.name.padEnd(36)}${r.perSecond.toFixed(0).padStart(10)}${r.p50.toFixed(1).padStart(10)}${r.p99.toFixed(1).padStart(10)}\n`,
    );
  }
  process.stdout.write(`\nTaskClient.submit  ${tc.toFixed(0)} tasks/s\nPOST /v1/tasks     ${http.toFixed(0)} tasks/s\n`);
  process.stdout.write(
    `ratio HTTP/TaskClient = ${(http / tc).toFixed(2)} (goal >= 0.8); bulk accepted/TaskClient started = ${(results.at(-1)!.perSecond / tc).toFixed(2)} (not like for like: a bulk's tasks are started later by the intake)\n`,
  );

  await api.close();
  await connection.close();
  await server?.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:api failed: ${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
