import { join } from 'node:path';
import { runAimdScenario, type AimdScenarioResult } from './lib-aimd';
import { commandLine, emitResult, machineInfo, median, range } from './lib-report';
import { startBenchStack, runBench } from './lib-stack';

/** The demo project with the demo pools' server-side `rateLimit` (bench/aimd-project). */
const RATE_LIMIT_CONFIG = join(__dirname, '..', '..', 'bench', 'aimd-project', 'tideway.config.ts');

type Policy = 'fixed' | 'aimd' | 'rateLimit';
const LABEL: Record<Policy, string> = { fixed: 'fixed 20', aimd: 'AIMD', rateLimit: 'static rateLimit' };

/**
 * `npm run bench:aimd`: a demo/normal pool (concurrency 20) sends GETs to a local server that
 * accepts CAPACITY requests/s and answers 429 (Retry-After: 1) above it. Three policies run the same
 * workload in alternated rounds in one process: fixed concurrency (the baseline), AIMD, and the pool's
 * static `rateLimit` set to the downstream's capacity (which needs the capacity known in advance).
 * Knobs: BENCH_AIMD_TASKS (default 300), BENCH_AIMD_CAPACITY (rps, default 5), BENCH_AIMD_LATENCY_MS
 * (default 1000), BENCH_AIMD_ROUNDS (rounds per policy, default 2).
 */
async function main(): Promise<void> {
  const tasks = Number(process.env.BENCH_AIMD_TASKS ?? 300);
  const capacityRps = Number(process.env.BENCH_AIMD_CAPACITY ?? 5);
  const latencyMs = Number(process.env.BENCH_AIMD_LATENCY_MS ?? 1000);
  const rounds = Number(process.env.BENCH_AIMD_ROUNDS ?? 2);
  const machine = machineInfo();
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const stack = await startBenchStack('aimd', say);
  try {
    await stack.spawn({ role: 'control' });
    say(
      `workload: ${tasks} demo.http tasks, downstream capacity ${capacityRps} req/s, ${latencyMs} ms per accepted request, pool concurrency 20, ${rounds} alternated rounds per policy`,
    );
    const results: Record<Policy, AimdScenarioResult[]> = { fixed: [], aimd: [], rateLimit: [] };
    const policies: Policy[] = ['fixed', 'aimd', 'rateLimit'];
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so no policy always meets the server right after the same neighbour.
      const order = policies.map((_, i) => policies[(i + r) % policies.length]!);
      for (const p of order) {
        say(`round ${r + 1}: ${LABEL[p]}...`);
        const res = await runAimdScenario(stack, {
          aimd: p === 'aimd',
          tasks,
          capacityRps,
          latencyMs,
          ...(p === 'rateLimit' ? { config: RATE_LIMIT_CONFIG } : {}),
        });
        results[p].push(res);
        say(
          `  accepted ${res.steady.acceptedRps.toFixed(1)} req/s (steady), 429s per 1,000 ${res.steady.rejectedPer1000} (steady) / ${res.overall.rejectedPer1000} (whole run), wall ${(res.durationMs / 1000).toFixed(1)} s, failed ${res.failed}`,
        );
      }
    }
    say('');
    say(`medians over ${rounds} alternated rounds (min–max in brackets):`);
    say(
      '| policy | accepted req/s (steady) | vs capacity | 429s per 1,000 req (steady) | 429s per 1,000 req (whole run) | wall time s | tasks failed |',
    );
    say('|---|---|---|---|---|---|---|');
    const rows: string[] = [];
    const figures = [];
    const base = median(results.fixed.map((x) => x.durationMs / 1000));
    for (const p of policies) {
      const rs = results[p];
      const acc = rs.map((x) => x.steady.acceptedRps);
      const rej = rs.map((x) => x.steady.rejectedPer1000);
      const rejAll = rs.map((x) => x.overall.rejectedPer1000);
      const wall = rs.map((x) => x.durationMs / 1000);
      const failed = rs.reduce((n, x) => n + x.failed, 0);
      const row =
        `| ${LABEL[p]} | ${median(acc).toFixed(1)} [${range(acc)}] | ${((median(acc) / capacityRps) * 100).toFixed(0)}% | ` +
        `${median(rej).toFixed(0)} [${range(rej, 0)}] | ${median(rejAll).toFixed(0)} [${range(rejAll, 0)}] | ${median(wall).toFixed(1)} [${range(wall)}] | ${failed}/${tasks * rounds} |`;
      rows.push(row);
      say(row);
      figures.push(
        {
          name: `${LABEL[p]}: accepted req/s (steady)`,
          value: median(acc),
          unit: 'req/s',
          spread: range(acc),
          note: `capacity ${capacityRps}`,
        },
        { name: `${LABEL[p]}: 429s per 1,000 requests (steady)`, value: median(rej), unit: 'per 1,000', spread: range(rej, 0) },
        {
          name: `${LABEL[p]}: wall time`,
          value: median(wall),
          unit: 's',
          spread: range(wall),
          baseline: base,
          baselineName: 'fixed 20',
          ratio: median(wall) / base,
        },
      );
    }
    emitResult({
      bench: 'aimd',
      command: commandLine('bench:aimd'),
      machine,
      params: { tasks, capacityRps, latencyMs, rounds, concurrency: 20 },
      figures,
      tables: [
        [
          '| policy | accepted req/s (steady) | vs capacity | 429s per 1,000 req (steady) | 429s per 1,000 req (whole run) | wall time s | tasks failed |',
          '|---|---|---|---|---|---|---|',
          ...rows,
        ].join('\n'),
      ],
      notes: [
        `Medians of ${rounds} alternated rounds per policy; [min–max]. The static rateLimit is set to the downstream's capacity, which a real pool would have to know in advance and keep true; AIMD finds it from the 429s it causes.`,
      ],
    });
  } finally {
    await stack.stop();
  }
}

runBench(main);
