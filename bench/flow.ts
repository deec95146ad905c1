import { join } from 'node:path';
import { TaskClient } from '../api/task-client';
import { catalog, type Tasks } from './flow-keys-project/catalog';
import { runFlowWeights } from './flow-weights';
import { commandLine, emitResult, machineInfo, range, type Figure } from './lib-report';
import { mapLimit, quantile, runBench, startBenchStack, type BenchStack } from './lib-stack';

/**
 * `npm run bench:flow`: flow control per key against its baseline, in one run on real processes
 * (one control worker, one pool replica with 100 slots, admission off).
 *
 * Overhead parts (this module): TASKS tasks per phase of a keyed type and of `flowbench.plain` (the
 * same handler, pool and lane, no key), ROUNDS rounds alternating which goes first. Two keyed types,
 * with limits that never bind at the bench's 100 in flight, so what differs is the permit:
 * `flowbench.keyed` (KEYS keys, limit 1000: the pool process leases permits and attempts take them
 * in memory) and `flowbench.tight` (50 keys, limit 3: too small to lease, so each attempt sends an
 * update to its key's limiter before the handler and a release signal after). Throughput = tasks / wall
 * time from the first submit to the last result; latency = one task's submit to its result. A
 * warm-up of one task per key (both types) runs first, unmeasured, so the limiters are started.
 * Knobs (BENCH_FLOW_*): TASKS (150), KEYS (10), MS (20), ROUNDS (2).
 *
 * Other parts that fit this stack add a function to FLOW_PARTS below: each gets the running stack
 * and prints its own figures beside its own baseline. The weighted split by plan (bench/flow-weights.ts)
 * needs its own project and stack, and runs after them.
 */
const knob = (name: string, dflt: number) => Number(process.env[`BENCH_FLOW_${name}`] ?? dflt);
const TASKS = knob('TASKS', 150);
const KEYS = knob('KEYS', 10);
const MS = knob('MS', 20);
const ROUNDS = knob('ROUNDS', 2);
const GOAL = 0.8;
const CONFIG = join(__dirname, '..', '..', 'bench', 'flow-keys-project', 'tideway.config.ts');
const RUN = Date.now().toString(36);

const say = (l: string) => process.stdout.write(`${l}\n`);
const fmt = (x: number, d = 0) =>
  Number.isNaN(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** What a part of the flow bench gets: the stack (its workers already polling) and a client of the flow bench's catalog. */
export interface FlowBenchContext {
  stack: BenchStack;
  client: TaskClient<Tasks>;
  say: (line: string) => void;
}
export type FlowBenchPart = (ctx: FlowBenchContext) => Promise<void>;

type Kind = 'keyed' | 'plain';

interface Phase {
  kind: Kind;
  wallMs: number;
  perSec: number;
  latencies: number[];
}

/** One keyed type measured against `flowbench.plain`. */
interface Variant {
  /** Label in the tables and figure names. */
  name: string;
  type: 'flowbench.keyed' | 'flowbench.tight';
  keys: number;
  limit: number;
  /** What path its permits take, for the heading. */
  path: string;
  goal?: number;
}

async function phase(client: TaskClient<Tasks>, v: Variant, kind: Kind, round: number, tasks = TASKS): Promise<Phase> {
  const type = kind === 'keyed' ? v.type : 'flowbench.plain';
  const t0 = Date.now();
  const latencies = await mapLimit(
    Array.from({ length: tasks }, (_, i) => i),
    100,
    async (i) => {
      const start = Date.now();
      const id = `${v.name}-${kind}-${RUN}-${round}-${i}`;
      await client.submit(type, { key: `${v.name}-k${i % v.keys}`, ms: MS }, { taskId: id });
      await client.result(id, type);
      return Date.now() - start;
    },
  );
  const wallMs = Date.now() - t0;
  return { kind, wallMs, perSec: (tasks * 1000) / wallMs, latencies };
}

/** The figures the parts measured, for the machine-readable line (bench/report.ts). */
const FIGURES: Figure[] = [];

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The dispatch overhead of a concurrency key: keyed vs plain, alternated rounds. */
const overhead =
  (v: Variant): FlowBenchPart =>
  async ({ client, say }) => {
    say(
      `\n## Concurrency key overhead, ${v.name}: ${TASKS} tasks per phase, ${v.keys} keys (limit ${v.limit}, never binding at 100 in flight), handler ${MS} ms; ${v.path}`,
    );
    say('| round | phase | wall s | tasks/s | p50 latency ms | p95 latency ms |');
    say('|---|---|---|---|---|---|');
    // Warm-up, not measured: one task per key starts each key's limiter (a cold key pays one workflow
    // start more; a limiter completes after a minute idle), the pool's leases and its first attempts.
    await phase(client, v, 'keyed', 0, v.keys);
    await phase(client, v, 'plain', 0, v.keys);
    const phases: Phase[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const order: Kind[] = r % 2 === 1 ? ['keyed', 'plain'] : ['plain', 'keyed'];
      for (const kind of order) {
        const p = await phase(client, v, kind, r);
        phases.push(p);
        say(
          `| ${r} | ${kind} | ${fmt(p.wallMs / 1000, 1)} | ${fmt(p.perSec, 1)} | ${fmt(quantile(p.latencies, 0.5))} | ${fmt(quantile(p.latencies, 0.95))} |`,
        );
      }
    }
    // Each round's ratio (keyed / plain, same round), and the median over rounds (two middle values averaged).
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const [a, b] = phases.slice(2 * r, 2 * r + 2);
      const keyed = a!.kind === 'keyed' ? a! : b!;
      const plain = a!.kind === 'plain' ? a! : b!;
      ratios.push(keyed.perSec / plain.perSec);
    }
    const of = (kind: Kind) => phases.filter((p) => p.kind === kind);
    const ratio = median(ratios);
    const verdict = v.goal === undefined ? '' : ` (goal ≥ ${v.goal}: ${ratio >= v.goal ? 'met' : 'NOT met'})`;
    say(`\nthroughput per round, keyed / plain: ${ratios.map((r) => fmt(r, 2)).join(', ')}`);
    say(
      `median throughput: keyed ${fmt(median(of('keyed').map((p) => p.perSec)), 1)} tasks/s, plain ${fmt(median(of('plain').map((p) => p.perSec)), 1)} tasks/s; median ratio ${fmt(ratio, 2)}${verdict}`,
    );
    const lat = (kind: Kind) => median(of(kind).flatMap((p) => p.latencies));
    say(`median latency: keyed ${fmt(lat('keyed'))} ms, plain ${fmt(lat('plain'))} ms (+${fmt(lat('keyed') - lat('plain'))} ms per task)`);
    FIGURES.push(
      {
        name: `throughput, concurrency-keyed task, ${v.name} (limit ${v.limit})${v.goal === undefined ? '' : ` (goal ≥ ${v.goal} of unkeyed)`}`,
        value: median(of('keyed').map((p) => p.perSec)),
        unit: 'tasks/s',
        baseline: median(of('plain').map((p) => p.perSec)),
        baselineName: 'the same task type without a key, same pool and lane',
        ratio,
        spread: `per-round ratios ${range(ratios, 2)}`,
      },
      {
        name: `submit → result latency p50, concurrency-keyed, ${v.name}`,
        value: lat('keyed'),
        unit: 'ms',
        baseline: lat('plain'),
        baselineName: 'unkeyed',
        ratio: lat('keyed') / lat('plain'),
      },
    );
  };

/** The parts `npm run bench:flow` runs, in order. Add a part here (e.g. the weighted split by plan). */
export const FLOW_PARTS: FlowBenchPart[] = [
  // The goal's case: a limit with room, where the pool process leases permits (no round trip per attempt).
  overhead({ name: 'leased', type: 'flowbench.keyed', keys: KEYS, limit: 1000, path: 'permits leased by the pool process', goal: GOAL }),
  // The harder case: a limit below 4 is never leased, so every attempt asks its limiter and releases.
  overhead({ name: 'per-attempt', type: 'flowbench.tight', keys: 50, limit: 3, path: 'a permit asked per attempt (limit < 4)' }),
];

async function main(): Promise<void> {
  const machine = machineInfo();
  const stack = await startBenchStack('flow', say, { config: CONFIG });
  try {
    await stack.spawn({ role: 'control' });
    await stack.spawn({ role: 'pool', group: 'flowbench', lane: 'normal' });
    const client = new TaskClient({ client: stack.temporal, catalog, admission: { kind: 'off' } });
    say(`# bench:flow (${new Date().toISOString()})`);
    for (const part of FLOW_PARTS) await part({ stack, client, say });
  } finally {
    await stack.stop();
  }
  // The weighted split needs its own project (tenants, plans) and stack, so it runs after.
  const w = await runFlowWeights({ say });
  FIGURES.push({
    name: "weighted fairness 3:1, the heavy tenant's share of contended dispatches",
    value: w.weighted.share * 100,
    unit: '%',
    baseline: w.baseline.share * 100,
    baselineName: 'the same flood at weights 1:1',
    ratio: w.weighted.share / w.weighted.target,
    note: `target ${(w.weighted.target * 100).toFixed(0)} %; ratio is share / target; ${w.weighted.window} and ${w.baseline.window} contended dispatches`,
  });
  emitResult({
    bench: 'flow',
    command: commandLine('bench:flow'),
    machine,
    params: { tasks: TASKS, keys: KEYS, handlerMs: MS, rounds: ROUNDS, weightTasksPerTenant: w.perTenant },
    figures: FIGURES,
  });
}

if (require.main === module) runBench(main);
