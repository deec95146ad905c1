import { runAimdScenario, type AimdScenarioResult } from './lib-aimd';
import { startBenchStack, runBench } from './lib-stack';

/**
 * `npm run bench:aimd`: a demo/normal pool (concurrency 20) sends GETs to a local server that
 * accepts CAPACITY requests/s and answers 429 (Retry-After: 1) above it. The same workload runs
 * twice in one process, with fixed concurrency (baseline) and with AIMD, and both are printed.
 * Knobs: BENCH_AIMD_TASKS (default 300), BENCH_AIMD_CAPACITY (rps, default 5), BENCH_AIMD_LATENCY_MS (default 1000).
 */
async function main(): Promise<void> {
  const tasks = Number(process.env.BENCH_AIMD_TASKS ?? 300);
  const capacityRps = Number(process.env.BENCH_AIMD_CAPACITY ?? 5);
  const latencyMs = Number(process.env.BENCH_AIMD_LATENCY_MS ?? 1000);
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const stack = await startBenchStack('aimd', say);
  try {
    await stack.spawn({ role: 'control' });
    say(
      `workload: ${tasks} demo.http tasks, downstream capacity ${capacityRps} req/s, ${latencyMs} ms per accepted request, pool concurrency 20`,
    );
    const results: AimdScenarioResult[] = [];
    for (const aimd of [false, true]) {
      say(`running ${aimd ? 'AIMD' : 'baseline (fixed concurrency)'}...`);
      results.push(await runAimdScenario(stack, { aimd, tasks, capacityRps, latencyMs }));
    }
    say('');
    say(
      '| run | accepted req/s (steady) | vs capacity | offered req/s (steady) | 429s per 1,000 req (steady) | 429s per 1,000 req (whole run) | total 429s | tasks failed | wall time | slot limit min/median/max |',
    );
    say('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      const sorted = [...r.limits].sort((a, b) => a - b);
      const med = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
      say(
        `| ${r.aimd ? 'AIMD' : 'fixed 20'} | ${r.steady.acceptedRps.toFixed(1)} | ${((r.steady.acceptedRps / r.capacityRps) * 100).toFixed(0)}% | ` +
          `${r.steady.offeredRps.toFixed(1)} | ${r.steady.rejectedPer1000} | ${r.overall.rejectedPer1000} | ${r.overall.rejected} | ${r.failed}/${r.tasks} | ` +
          `${(r.durationMs / 1000).toFixed(1)} s | ${sorted[0] ?? '-'}/${med}/${sorted.at(-1) ?? '-'} |`,
      );
    }
  } finally {
    await stack.stop();
  }
}

runBench(main);
