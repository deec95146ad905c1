/**
 * `npm run bench:scaler`: replays one day of load through the scaler's own code for three
 * policies and prints replica-hours, queue-wait p95 and minutes over the wait SLO, the goal
 * ratios, and a PNG chart per policy in docs/.
 */
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeChart } from './scaler-chart';
import { DEFAULT_SCENARIO, simulate, type PolicyName, type SimResult } from './scaler-sim';

const LABEL: Record<PolicyName, string> = {
  static: '(a) static for peak',
  reactive: '(b) reactive, backlog only',
  tideway: '(c) tideway, backlog + forecast',
};

async function main(): Promise<void> {
  const s = DEFAULT_SCENARIO;
  const docs = join(__dirname, '..', '..', 'docs');
  mkdirSync(docs, { recursive: true });
  const results: SimResult[] = [];
  for (const p of ['static', 'reactive', 'tideway'] as const) results.push(await simulate(p, s));
  const [a, b, c] = results as [SimResult, SimResult, SimResult];
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(
    `Scaler simulator: one day, ${a.tasks} tasks (nightly fire ${s.cronTasks} at ${s.cron} UTC, ${s.trickle.perSecond}/s trickle ${s.trickle.fromHour}-${s.trickle.toHour}h, ${s.bursts.count} random bursts), task ${s.taskSeconds}s,`,
  );
  out(
    `pool ${s.pool.concurrency} slots/replica, ${s.pool.minReplicas}-${s.pool.maxReplicas} replicas, start-up ${s.pool.startupSeconds}s, decisions every ${s.scaler.interval}, stats cached ${s.statsCacheS}s, SLO ${s.sloS}s wait`,
  );
  out('');
  out(
    `${'policy'.padEnd(34)}${'replica-h'.padStart(10)}${'wait p95'.padStart(10)}${'wait max'.padStart(10)}${'min>SLO'.padStart(9)}${'  around fires'.padStart(15)}`,
  );
  for (const r of results) {
    out(
      `${LABEL[r.policy].padEnd(34)}${r.replicaHours.toFixed(1).padStart(10)}${`${r.waitP95S}s`.padStart(10)}${`${r.waitMaxS}s`.padStart(10)}${String(r.minutesOverSlo).padStart(9)}${String(r.minutesOverSloAroundFires).padStart(15)}`,
    );
  }
  const costRatio = c.replicaHours / a.replicaHours;
  const fewer =
    b.minutesOverSloAroundFires === 0
      ? c.minutesOverSloAroundFires === 0
        ? 1
        : 0
      : 1 - c.minutesOverSloAroundFires / b.minutesOverSloAroundFires;
  out('');
  out(`goal 1: (c) replica-hours / (a) = ${(costRatio * 100).toFixed(1)}% (goal <= 40%): ${costRatio <= 0.4 ? 'MET' : 'NOT MET'}`);
  out(
    `goal 2: SLO-miss minutes around cron fires, (c) vs (b): ${c.minutesOverSloAroundFires} vs ${b.minutesOverSloAroundFires} = ${(fewer * 100).toFixed(0)}% fewer (goal >= 90%): ${fewer >= 0.9 && b.minutesOverSloAroundFires > 0 ? 'MET' : 'NOT MET'}`,
  );
  const maxBacklog = Math.max(...results.map((r) => Math.max(...r.series.backlog)));
  for (const r of results) {
    const file = join(docs, `scaler-${r.policy}.png`);
    writeChart(file, {
      title: LABEL[r.policy],
      subtitle: `replica-hours ${r.replicaHours.toFixed(1)} · queue wait p95 ${r.waitP95S} s · minutes over the ${s.sloS} s wait SLO: ${r.minutesOverSlo}`,
      replicas: r.series.replicas,
      backlog: r.series.backlog,
      maxReplicas: s.pool.maxReplicas,
      maxBacklog,
      fires: r.fires,
      tasksPerFire: s.cronTasks,
    });
    out(`chart: ${relative(process.cwd(), file)}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
