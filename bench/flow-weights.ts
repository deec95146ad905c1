import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal as proto } from '@temporalio/proto';
import { TaskClient } from '../api/task-client';
import { poolTaskQueue } from '../config/names';
import { planWeights } from '../config/plans';
import { catalog } from './flow-project/catalog';
import { mapLimit, runBench, startBenchStack, type BenchStack } from './lib-stack';

/**
 * The weighted split of issue 17: two tenants on plans weighted 3 and 1 flood one lane whose pool
 * has 2 slots; the dispatch order (the handlers' ledger) gives each tenant's share while both still
 * wait. The baseline is the same flood in the same run with no weights (target 50/50).
 *
 *   npm run build && node dist/bench/flow-weights.js     (TEMPORAL_ADDRESS: use that server; else its own dev server)
 */

const CONFIG = join(__dirname, '..', '..', 'bench', 'flow-project', 'tideway.config.ts');

export interface SplitRound {
  /** Heavy tenant's weight over the light one's (1 = unweighted baseline). */
  weights: [number, number];
  /** The heavy tenant's share of the contended dispatches, 0..1. */
  share: number;
  /** Its target: w0 / (w0 + w1). */
  target: number;
  /** Dispatches while both tenants still had tasks waiting. */
  window: number;
}

export interface FlowWeightsResult {
  weighted: SplitRound;
  baseline: SplitRound;
  perTenant: number;
  taskMs: number;
}

/** One flood: `perTenant` tasks each for two tenants, interleaved, then the pool starts and drains it. */
async function round(stack: BenchStack, weights: [number, number], tag: string, perTenant: number, taskMs: number): Promise<SplitRound> {
  const [heavy, light] = [`${tag}-heavy`, `${tag}-light`];
  const client = new TaskClient({
    client: stack.temporal,
    catalog,
    admission: { kind: 'off' },
    ...(weights[0] !== weights[1]
      ? { fairnessWeightOf: planWeights({ weights: { pro: weights[0], free: weights[1] }, tenants: { [heavy]: 'pro', [light]: 'free' } }) }
      : {}),
  });
  const items = Array.from({ length: perTenant * 2 }, (_, i) => (i % 2 === 0 ? heavy : light));
  await mapLimit(items, 8, (tenant) => client.submit('fbench.weighted', { ms: taskMs }, { tenant }));
  const queue = poolTaskQueue('fbench', 'low', 'fbench');
  for (const deadline = Date.now() + 60_000; ;) {
    const r = await stack.temporal.workflowService.describeTaskQueue({
      namespace: stack.temporal.options.namespace,
      taskQueue: { name: queue },
      taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      reportStats: true,
    });
    if ((r.stats?.approximateBacklogCount?.toNumber() ?? 0) >= items.length) break;
    if (Date.now() > deadline) throw new Error(`the flood did not reach the backlog of ${queue}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  const pool = await stack.spawn({ role: 'pool', group: 'fbench', lane: 'low' });
  const mine = () =>
    (existsSync(stack.ledger) ? readFileSync(stack.ledger, 'utf8').split('\n').filter(Boolean) : [])
      .map((l) => JSON.parse(l) as { tenant: string; at: number })
      .filter((l) => l.tenant === heavy || l.tenant === light);
  for (const deadline = Date.now() + 120_000; mine().length < items.length;) {
    if (Date.now() > deadline) throw new Error('the flood did not drain');
    await new Promise((res) => setTimeout(res, 250));
  }
  await pool.stop(15_000);
  const seen = { [heavy]: 0, [light]: 0 } as Record<string, number>;
  let window = 0;
  for (const l of mine().sort((a, b) => a.at - b.at)) {
    if (seen[heavy] === perTenant || seen[light] === perTenant) break;
    seen[l.tenant]! += 1;
    window += 1;
  }
  return { weights, share: seen[heavy]! / window, target: weights[0] / (weights[0] + weights[1]), window };
}

/** Runs the baseline (1:1) and the weighted (3:1) flood in one run; prints and returns the splits. */
export async function runFlowWeights(
  opts: { perTenant?: number; taskMs?: number; say?: (line: string) => void } = {},
): Promise<FlowWeightsResult> {
  const say = opts.say ?? ((l: string) => console.log(l));
  const perTenant = opts.perTenant ?? 40;
  const taskMs = opts.taskMs ?? 200;
  const stack = await startBenchStack('flow-weights', say, { config: CONFIG });
  try {
    await stack.spawn({ role: 'control' });
    const run = `r${Date.now().toString(36)}`;
    const baseline = await round(stack, [1, 1], `${run}-base`, perTenant, taskMs);
    const weighted = await round(stack, [3, 1], `${run}-w`, perTenant, taskMs);
    const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
    say(`weighted split: ${perTenant} tasks per tenant of ${taskMs} ms, one low lane, 2 slots, pool started on a full backlog`);
    say(`  baseline 1:1  heavy tenant ${pct(baseline.share)} of ${baseline.window} contended dispatches (target ${pct(baseline.target)})`);
    say(`  weighted 3:1  heavy tenant ${pct(weighted.share)} of ${weighted.window} contended dispatches (target ${pct(weighted.target)})`);
    say(
      `  weighted / target ${(weighted.share / weighted.target).toFixed(2)}; baseline / target ${(baseline.share / baseline.target).toFixed(2)}`,
    );
    return { weighted, baseline, perTenant, taskMs };
  } finally {
    await stack.stop();
  }
}

if (require.main === module) runBench(async () => void (await runFlowWeights()));
