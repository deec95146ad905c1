import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TaskClient } from '../api/task-client';
import { SA_KEYS } from '../config/search-attributes';
import { commandLine, emitResult, machineInfo, type Figure } from './lib-report';
import { catalog, type Tasks } from './batch-project/catalog';
import { quantile, runBench, startBenchStack, type BenchStack } from './lib-stack';

/**
 * `npm run bench:batch`: one batch of SHARDS shards (`bench.fanout`, a MS-millisecond handler,
 * maxParallel 200) beside the same work handed over as SHARDS independent tasks (`bench.item`, the
 * same handler) in one bulk intake, in the same run, on real worker processes: one control worker
 * (admission off, so the intake starts as fast as it can, like the batch's child starts) and one
 * pool replica of the `bench` group with 200 slots for both. Rounds alternate which path goes
 * first (batch, bulk | bulk, batch | ...). Wall time runs from the submit call to the last close
 * Temporal recorded (the batch's last run; the bulk's last task). Also prints every run of the
 * parent (continue-as-new) with its history events and bytes, the peak RSS of the control and pool
 * processes in each phase, and a ledger check that no item ran twice.
 * Knobs (BENCH_BATCH_*): SHARDS (10000), MS (10), ROUNDS (2), BASELINE (1; 0 skips the bulk path,
 * e.g. for the 100,000-shard run: BENCH_BATCH_SHARDS=100000 BENCH_BATCH_BASELINE=0 BENCH_BATCH_ROUNDS=1).
 */
const knob = (name: string, dflt: number) => Number(process.env[`BENCH_BATCH_${name}`] ?? dflt);
const SHARDS = knob('SHARDS', 10_000);
const MS = knob('MS', 10);
const ROUNDS = knob('ROUNDS', 2);
const BASELINE = knob('BASELINE', 1) !== 0;
const GOAL = 0.8;
const BATCH_CONFIG = join(__dirname, '..', '..', 'bench', 'batch-project', 'tideway.config.ts');
/** Temporal's per-run history limits (the server's defaults). */
const HISTORY_EVENTS_LIMIT = 51_200;
const HISTORY_BYTES_LIMIT = 50 * 1024 * 1024;

const say = (l: string) => process.stdout.write(`${l}\n`);
const note = (l: string) => process.stderr.write(`${l}\n`);
const RUN = Date.now().toString(36);
const fmt = (x: number, d = 0) =>
  Number.isNaN(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Samples the resident set size of some processes; `peak` is the highest seen per process. */
class RssSampler {
  readonly peakMb = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: Record<string, number>) {
    this.timer = setInterval(() => this.sample(), 250);
    this.sample();
  }
  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) this.peakMb.set(name, Math.max(this.peakMb.get(name) ?? 0, Number(m[1]) / 1024));
      } catch {
        // The process is gone: nothing to sample.
      }
    }
  }
  stop(): Map<string, number> {
    clearInterval(this.timer);
    this.sample();
    return this.peakMb;
  }
}

interface Phase {
  path: 'batch' | 'bulk';
  round: number;
  items: number;
  wallMs: number;
  rss: Map<string, number>;
  /** Items the ledger saw more than once with the same attempt (should be 0). */
  ranTwice: number;
  runs?: number;
  peakEvents?: number;
  peakBytes?: number;
}

/** Ledger lines of the items whose task IDs start with `prefix`: how many distinct, how many (taskId, attempt) seen twice. */
function ledgerCheck(ledger: string, prefix: string): { distinct: number; ranTwice: number } {
  const seen = new Set<string>();
  const ids = new Set<string>();
  let ranTwice = 0;
  let text = '';
  try {
    text = readFileSync(ledger, 'utf8');
  } catch {
    return { distinct: 0, ranTwice: 0 };
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { taskId: string; attempt: number };
    if (!r.taskId.startsWith(prefix)) continue;
    const k = `${r.taskId}@${r.attempt}`;
    if (seen.has(k)) ranTwice += 1;
    seen.add(k);
    ids.add(r.taskId);
  }
  return { distinct: ids.size, ranTwice };
}

async function runBatchPhase(stack: BenchStack, client: TaskClient<Tasks>, pids: Record<string, number>, round: number): Promise<Phase> {
  const id = `fanout-${RUN}-${round}`;
  const rss = new RssSampler(pids);
  const t0 = Date.now();
  await client.submit('bench.fanout', { shards: SHARDS, ms: MS }, { taskId: id });
  // Progress while it runs, from the batch's own state.
  const progress = setInterval(() => {
    client.get(id).then(
      (s) => {
        const b = s.batch;
        if (b)
          note(
            `  batch ${id}: ${b.done + b.failed}/${SHARDS} done, ${b.running} running, run ${b.runs}, ${fmt((Date.now() - t0) / 1000)} s`,
          );
      },
      () => undefined,
    );
  }, 10_000);
  let out: { output: unknown; total: number; succeeded: number; failed: number };
  try {
    out = (await client.result(id, 'bench.fanout')) as typeof out;
  } finally {
    clearInterval(progress);
  }
  const peak = rss.stop();
  const o = out.output as { count: number; sum: number };
  const wantSum = (SHARDS * (SHARDS - 1)) / 2;
  if (o.count !== SHARDS || o.sum !== wantSum || out.failed !== 0) {
    throw new Error(`batch ${id} reduced wrongly: count ${o.count} sum ${o.sum} failed ${out.failed} (want ${SHARDS}, ${wantSum}, 0)`);
  }
  // Every run of the parent: continue-as-new keeps each one's history bounded.
  let runs = 0;
  let peakEvents = 0;
  let peakBytes = 0;
  let lastClose = 0;
  for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = '${id}'` })) {
    runs += 1;
    peakEvents = Math.max(peakEvents, w.historyLength);
    peakBytes = Math.max(peakBytes, w.historySize ?? 0);
    lastClose = Math.max(lastClose, w.closeTime?.getTime() ?? 0);
  }
  const ledger = ledgerCheck(stack.ledger, `${id}/`);
  if (ledger.distinct !== SHARDS) throw new Error(`ledger saw ${ledger.distinct} of ${SHARDS} shards of ${id}`);
  return { path: 'batch', round, items: SHARDS, wallMs: lastClose - t0, rss: peak, ranTwice: ledger.ranTwice, runs, peakEvents, peakBytes };
}

/** Waits until `n` tasks of the bulk closed Completed (visibility); returns the query that finds them. */
async function waitCompleted(stack: BenchStack, bulkId: string, n: number, t0: number): Promise<string> {
  const query = `${SA_KEYS.BulkId.name} = '${bulkId}' AND ExecutionStatus = 'Completed'`;
  let lastNote = Date.now();
  for (;;) {
    const { count } = await stack.temporal.workflow.count(query);
    if (count >= n) return query;
    if (Date.now() - lastNote >= 10_000) {
      note(`  bulk ${bulkId}: ${count}/${n} completed, ${fmt((Date.now() - t0) / 1000)} s`);
      lastNote = Date.now();
    }
    await sleep(500);
  }
}

async function runBulkPhase(stack: BenchStack, client: TaskClient<Tasks>, pids: Record<string, number>, round: number): Promise<Phase> {
  const bulkId = `bulk-${RUN}-${round}`;
  const prefix = `item-${RUN}-${round}-`;
  const items = Array.from({ length: SHARDS }, (_, n) => ({ type: 'bench.item', input: { n, ms: MS }, taskId: `${prefix}${n}` }));
  const rss = new RssSampler(pids);
  const t0 = Date.now();
  const accepted = await client.submitMany(items, { bulkId });
  if (accepted.accepted !== SHARDS) throw new Error(`bulk ${bulkId} accepted ${accepted.accepted} of ${SHARDS}`);
  const query = await waitCompleted(stack, bulkId, SHARDS, t0);
  const peak = rss.stop();
  let lastClose = 0;
  for await (const w of stack.temporal.workflow.list({ query })) lastClose = Math.max(lastClose, w.closeTime?.getTime() ?? 0);
  const ledger = ledgerCheck(stack.ledger, prefix);
  if (ledger.distinct !== SHARDS) throw new Error(`ledger saw ${ledger.distinct} of ${SHARDS} items of ${bulkId}`);
  return { path: 'bulk', round, items: SHARDS, wallMs: lastClose - t0, rss: peak, ranTwice: ledger.ranTwice };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const rows: string[] = [];
  const figures: Figure[] = [];
  say(
    `bench:batch: ${fmt(SHARDS)} shards of ${MS} ms, maxParallel 200, pool of 200 slots; ${ROUNDS} round(s)${BASELINE ? ', alternating with the same work as a bulk' : ''}`,
  );
  const stack = await startBenchStack('batch', say, { config: BATCH_CONFIG });
  try {
    const control = await stack.spawn({ role: 'control' }, { TIDEWAY_ADMISSION: 'off' });
    const pool = await stack.spawn({ role: 'pool', group: 'bench', lane: 'normal' });
    const pids = { control: control.pid, pool: pool.pid };
    const client = new TaskClient({ client: stack.temporal, catalog, admission: { kind: 'off' } });

    // Warm-up: both paths once, small, so neither pays for bundles and connections.
    await client.submit('bench.fanout', { shards: 50, ms: MS }, { taskId: `warm-${RUN}` });
    await client.result(`warm-${RUN}`);
    const warm = Array.from({ length: 50 }, (_, n) => ({ type: 'bench.item', input: { n, ms: MS }, taskId: `warm-${RUN}-${n}` }));
    await client.submitMany(warm, { bulkId: `warm-${RUN}` });
    await waitCompleted(stack, `warm-${RUN}`, warm.length, Date.now());

    const phases: Phase[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const order: Phase['path'][] = !BASELINE ? ['batch'] : r % 2 === 1 ? ['batch', 'bulk'] : ['bulk', 'batch'];
      for (const path of order) {
        note(`round ${r}: ${path}`);
        const p = path === 'batch' ? await runBatchPhase(stack, client, pids, r) : await runBulkPhase(stack, client, pids, r);
        phases.push(p);
        note(`  ${path}: ${fmt(p.wallMs / 1000, 1)} s, ${fmt(p.items / (p.wallMs / 1000), 1)}/s`);
      }
    }

    say('');
    rows.push(
      '| round | path | items | wall | items/s | parent runs | peak events/run | peak bytes/run | peak RSS control | peak RSS pool | ran twice |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const p of phases) {
      rows.push(
        `| ${p.round} | ${p.path === 'batch' ? 'batch (bench.fanout)' : 'bulk intake (bench.item)'} | ${fmt(p.items)} | ${fmt(p.wallMs / 1000, 1)} s | ${fmt(p.items / (p.wallMs / 1000), 1)} | ` +
          `${p.runs ?? '-'} | ${p.peakEvents !== undefined ? fmt(p.peakEvents) : '-'} | ${p.peakBytes !== undefined ? `${fmt(p.peakBytes / 1024, 0)} KiB` : '-'} | ` +
          `${fmt(p.rss.get('control') ?? Number.NaN)} MB | ${fmt(p.rss.get('pool') ?? Number.NaN)} MB | ${p.ranTwice} |`,
      );
    }
    for (const r of rows) say(r);
    const rate = (path: Phase['path']) => phases.filter((p) => p.path === path).map((p) => p.items / (p.wallMs / 1000));
    const batchRates = rate('batch');
    const bulkRates = rate('bulk');
    const batchMed = quantile(batchRates, 0.5);
    say('');
    say(`batch: median ${fmt(batchMed, 1)} shards/s over ${batchRates.length} run(s) (${batchRates.map((x) => fmt(x, 1)).join(', ')})`);
    const peakEvents = Math.max(...phases.map((p) => p.peakEvents ?? 0));
    const peakBytes = Math.max(...phases.map((p) => p.peakBytes ?? 0));
    say(
      `parent history: peak ${fmt(peakEvents)} events and ${fmt(peakBytes / 1024)} KiB in one run ` +
        `(${fmt((peakEvents / HISTORY_EVENTS_LIMIT) * 100, 1)} % and ${fmt((peakBytes / HISTORY_BYTES_LIMIT) * 100, 2)} % of Temporal's 51,200 events / 50 MiB)`,
    );
    if (bulkRates.length > 0) {
      const bulkMed = quantile(bulkRates, 0.5);
      const ratios = phases
        .filter((p) => p.path === 'batch')
        .map((b) => {
          const same = phases.find((p) => p.path === 'bulk' && p.round === b.round);
          return same ? same.wallMs / b.wallMs : Number.NaN;
        });
      const ratio = batchMed / bulkMed;
      say(`bulk intake: median ${fmt(bulkMed, 1)} tasks/s over ${bulkRates.length} run(s) (${bulkRates.map((x) => fmt(x, 1)).join(', ')})`);
      say(`per-round ratio batch/bulk: ${ratios.map((x) => fmt(x, 2)).join(', ')}`);
      say(`ratio of medians batch/bulk: ${fmt(ratio, 2)} (goal ≥ ${GOAL}) ${ratio >= GOAL ? '✓' : '✗'}`);
      figures.push({
        name: `batch items/s (median of ${batchRates.length})`,
        value: batchMed,
        unit: 'items/s',
        baseline: bulkMed,
        baselineName: 'the same items as tasks in one bulk intake',
        ratio,
        spread: `per-round ratios ${ratios.map((x) => fmt(x, 2)).join(', ')}`,
      });
    } else
      figures.push({
        name: `batch items/s (median of ${batchRates.length})`,
        value: batchMed,
        unit: 'items/s',
        note: 'no baseline (BENCH_BATCH_BASELINE=0)',
      });
    figures.push({ name: 'peak parent history events in one run', value: peakEvents, unit: 'events' });
    const twice = phases.reduce((s, p) => s + p.ranTwice, 0);
    say(`items run twice (same attempt, from the ledger): ${twice} ${twice === 0 ? '✓' : '✗'}`);
    figures.push({ name: 'items run twice (ledger)', value: twice, unit: 'items' });
    emitResult({
      bench: 'batch',
      command: commandLine('bench:batch'),
      machine,
      params: { shards: SHARDS, ms: MS, rounds: ROUNDS, baseline: BASELINE },
      figures,
      tables: [rows.join('\n')],
    });
  } finally {
    await stack.stop();
  }
}

runBench(main);
