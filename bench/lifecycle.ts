import { readFileSync } from 'node:fs';
import { TypedSearchAttributes } from '@temporalio/common';
import { SA_KEYS } from '../config/search-attributes';
import { CONTROL_TASK_QUEUE, RUN_TASK_WORKFLOW } from '../config/names';
import { mapLimit, quantile, startBenchStack, runBench } from './lib-stack';

/**
 * `npm run bench:lifecycle`: 500 demo.echo tasks through the whole path on a real dev server.
 * Prints submit throughput of TaskClient beside raw `client.workflow.start` (same options, no
 * validation) in interleaved rounds, end-to-end latency (submit → result), and the peak RSS of
 * the pool worker process. Machines here are noisy: compare the ratio and medians.
 */
const TOTAL = Number(process.env.BENCH_TASKS ?? 500);
const ROUNDS = 5;
const CONCURRENCY = 16;
const LATENCY_TASKS = 100;
const say = (line: string) => process.stdout.write(`${line}\n`);

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function main(): Promise<void> {
  const stack = await startBenchStack('lifecycle', say);
  try {
    await stack.spawn({ role: 'control' });
    const pool = await stack.spawn({ role: 'pool', group: 'demo', lane: 'normal' });
    const run = Date.now().toString(36);

    // Warm up connections, caches and the workflow bundle.
    await mapLimit([...Array(20).keys()], 8, async (i) => {
      const { taskId } = await stack.client.submit('demo.echo', { i }, { taskId: `warm-${run}-${i}` });
      await stack.client.result(taskId);
    });

    const perRound = Math.floor(TOTAL / 2 / ROUNDS);
    const rates = { taskClient: [] as number[], raw: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      const ids = [...Array(perRound).keys()];
      // Alternate which goes first so neither always meets the busier server.
      const order = r % 2 === 0 ? (['taskClient', 'raw'] as const) : (['raw', 'taskClient'] as const);
      for (const which of order) {
        const t0 = performance.now();
        await mapLimit(ids, CONCURRENCY, async (i) => {
          const id = `${which}-${run}-${r}-${i}`;
          if (which === 'taskClient') {
            await stack.client.submit('demo.echo', { i }, { taskId: id });
          } else {
            await stack.temporal.workflow.start(RUN_TASK_WORKFLOW, {
              taskQueue: CONTROL_TASK_QUEUE,
              workflowId: id,
              args: [{ type: 'demo.echo', input: { i } }],
              workflowIdConflictPolicy: 'FAIL',
              workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
              typedSearchAttributes: new TypedSearchAttributes([
                { key: SA_KEYS.TaskType, value: 'demo.echo' },
                { key: SA_KEYS.TaskStatus, value: 'queued' },
              ]),
            });
          }
        });
        rates[which].push(perRound / ((performance.now() - t0) / 1000));
      }
      say(
        `round ${r + 1}: TaskClient.submit ${rates.taskClient.at(-1)!.toFixed(0)}/s, raw workflow.start ${rates.raw.at(-1)!.toFixed(0)}/s`,
      );
    }
    // Let every submitted task finish before measuring latency on a quiet system.
    const t0 = performance.now();
    const all = [...Array(ROUNDS).keys()].flatMap((r) =>
      [...Array(perRound).keys()].flatMap((i) => [`taskClient-${run}-${r}-${i}`, `raw-${run}-${r}-${i}`]),
    );
    await mapLimit(all, 32, (id) => stack.client.result(id).catch(() => undefined));
    say(`all ${all.length} tasks finished ${((performance.now() - t0) / 1000).toFixed(1)} s after the last submit`);

    // Latency alone (one task at a time) and under some contention (4 at a time, 2 cores here).
    const latency = (tag: string, concurrency: number) =>
      mapLimit([...Array(LATENCY_TASKS).keys()], concurrency, async (i) => {
        const t0 = performance.now();
        const { taskId } = await stack.client.submit('demo.echo', { i }, { taskId: `lat${tag}-${run}-${i}` });
        await stack.client.result(taskId);
        return performance.now() - t0;
      });
    const sequential = await latency('1', 1);
    const latencies = await latency('4', 4);

    const med = (xs: number[]) => quantile(xs, 0.5);
    const ratio = med(rates.taskClient) / med(rates.raw);
    const p50 = quantile(latencies, 0.5);
    const p99 = quantile(latencies, 0.99);
    const rss = peakRssMb(pool.pid);
    say('');
    say(`submit throughput (median of ${ROUNDS} rounds × ${perRound} tasks, concurrency ${CONCURRENCY}):`);
    say(`  TaskClient.submit      ${med(rates.taskClient).toFixed(1)} tasks/s`);
    say(`  raw workflow.start     ${med(rates.raw).toFixed(1)} tasks/s`);
    say(`  ratio                  ${ratio.toFixed(2)}   (goal >= 0.9: ${ratio >= 0.9 ? 'MET' : 'NOT MET'})`);
    const s50 = quantile(sequential, 0.5);
    say(`end-to-end latency, submit → result (${LATENCY_TASKS} tasks each):`);
    say(
      `  one at a time   p50 ${s50.toFixed(0)} ms   p99 ${quantile(sequential, 0.99).toFixed(0)} ms   (goal p50 <= 150 ms: ${s50 <= 150 ? 'MET' : 'NOT MET'})`,
    );
    say(`  4 at a time     p50 ${p50.toFixed(0)} ms   p99 ${p99.toFixed(0)} ms`);
    say(`pool worker peak RSS     ${rss.toFixed(0)} MB   (goal <= 250 MB: ${rss <= 250 ? 'MET' : 'NOT MET'})`);
  } finally {
    await stack.stop();
  }
}

runBench(main);
