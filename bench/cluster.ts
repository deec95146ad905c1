import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings } from '../config/settings';
import { findOrBuildTemporalCli, startDevServer, startPostgresProfile } from '../temporal';
import { mapLimit, quantile, runBench, startBenchStack } from './lib-stack';

/**
 * `npm run bench:cluster`: the same work on the dev server (the baseline) and on the postgres
 * profile with 4 and 8 shards, each with 1 and 2 control workers (one demo pool): start rate
 * (TaskClient submits/s, 16 at a time), tasks completed/s end to end (submit → result of all), and
 * submit → result latency one task at a time. Prints the load average: the machine is shared.
 * BENCH_TASKS (default 200), BENCH_TARGETS (default dev,pg4,pg8).
 */
const TOTAL = Number(process.env.BENCH_TASKS ?? 200);
const TARGETS = (process.env.BENCH_TARGETS ?? 'dev,pg4,pg8').split(',');
const LATENCY_TASKS = 40;
const say = (line: string) => process.stdout.write(`${line}\n`);

async function startTarget(target: string): Promise<{ address: string; stop: () => Promise<void> }> {
  const settings = loadSettings();
  const dir = mkdtempSync(join(tmpdir(), 'tideway-bench-cluster-'));
  if (target === 'dev') {
    const cli = await findOrBuildTemporalCli({
      explicit: settings.temporalCli,
      cacheDir: settings.cacheDir,
      searchPath: settings.searchPath,
    });
    const s = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
    return { address: s.address, stop: () => s.stop() };
  }
  const shards = Number(/^pg(\d+)$/.exec(target)?.[1]);
  if (!shards) throw new Error(`unknown target ${target} (dev, pg<shards>)`);
  const p = await startPostgresProfile({ dataDir: dir, cacheDir: settings.cacheDir, searchPath: settings.searchPath, port: 0, shards });
  return { address: p.address, stop: () => p.stop() };
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const target of TARGETS) {
    const server = await startTarget(target);
    try {
      for (const controls of [1, 2]) {
        process.env.TEMPORAL_ADDRESS = server.address;
        const stack = await startBenchStack('cluster', () => undefined);
        try {
          for (let i = 0; i < controls; i++) await stack.spawn({ role: 'control' });
          await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
          const run = `${target}-${controls}-${Date.now().toString(36)}`;
          await mapLimit([...Array(20).keys()], 8, async (i) => {
            const { taskId } = await stack.client.submit('demo.echo', { i }, { taskId: `warm-${run}-${i}` });
            await stack.client.result(taskId);
          });
          const ids = [...Array(TOTAL).keys()].map((i) => `bench-${run}-${i}`);
          const t0 = Date.now();
          await mapLimit(ids, 16, (id, i) => stack.client.submit('demo.echo', { i }, { taskId: id }));
          const submitted = Date.now();
          await mapLimit(ids, 32, (id) => stack.client.result(id));
          const done = Date.now();
          const lat: number[] = [];
          for (let i = 0; i < LATENCY_TASKS; i++) {
            const s = Date.now();
            const { taskId } = await stack.client.submit('demo.echo', { i }, { taskId: `lat-${run}-${i}` });
            await stack.client.result(taskId);
            lat.push(Date.now() - s);
          }
          const row =
            `| ${target === 'dev' ? 'dev server (baseline)' : `postgres, ${target.slice(2)} shards`} | ${controls} ` +
            `| ${((TOTAL * 1000) / (submitted - t0)).toFixed(0)} | ${((TOTAL * 1000) / (done - t0)).toFixed(0)} ` +
            `| ${quantile(lat, 0.5)} | ${quantile(lat, 0.95)} | ${loadavg()[0]!.toFixed(1)} |`;
          rows.push(row);
          say(row);
        } finally {
          await stack.stop();
        }
      }
    } finally {
      await server.stop();
    }
  }
  say(`\n${TOTAL} demo.echo tasks per row, one demo pool; latency over ${LATENCY_TASKS} tasks one at a time.`);
  say('| server | control workers | starts/s | completed/s end to end | submit→result p50 ms | p95 ms | load avg (1 min) |');
  say('|---|---|---|---|---|---|---|');
  for (const r of rows) say(r);
}

runBench(main);
