import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { TaskClient } from '../api/task-client';
import { catalog } from '../examples/demo/catalog';
import { redriveSignal } from '../config/messages';
import { CONTROL_TASK_QUEUE, RUN_TASK_WORKFLOW, bulkChunkWorkflowId, shardTaskId } from '../config/names';
import { loadSettings } from '../config/settings';
import { findOrBuildTemporalCli, startDevServer } from '../temporal';
import { spawnWorker } from '../workers/supervisor';

/**
 * Records real histories of every path through `runTask` into test/fixtures/histories/*.binpb, for the
 * replay test that fails the build on a non-deterministic workflow change. Run it when a change is
 * deliberately incompatible (after adding `patched()` for old histories, keep the old files):
 *   RECORD_GENERATION=v5 npm run record:histories
 * RECORD_ONLY=bulk records only the cases whose names start with one of its comma-separated prefixes.
 * The batch cases (RECORD_ONLY=batch) run demo.yield on the normal lane: this script starts no low pool.
 */
async function main(): Promise<void> {
  const out = join(__dirname, '..', '..', 'test', 'fixtures', 'histories');
  mkdirSync(out, { recursive: true });
  const settings = loadSettings();
  const dir = mkdtempSync(join(tmpdir(), 'tideway-record-'));
  const cli = await findOrBuildTemporalCli({
    explicit: settings.temporalCli,
    cacheDir: settings.cacheDir,
    searchPath: settings.searchPath,
  });
  const server = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
  const config = join(__dirname, '..', '..', 'examples', 'demo', 'tideway.config.ts');
  const workers = [
    spawnWorker({ role: 'control' }, { config, address: server.address }),
    spawnWorker({ role: 'pool', group: 'demo', lane: 'normal' }, { config, address: server.address }),
    spawnWorker({ role: 'pool', group: 'demo', lane: 'high' }, { config, address: server.address }),
  ];
  await Promise.all(workers.map((w) => w.ready));
  const connection = await Connection.connect({ address: server.address });
  const temporal = new Client({ connection });
  const c = new TaskClient({ client: temporal, catalog });
  const until = async (id: string, status: string) => {
    for (let i = 0; i < 300; i++) {
      if ((await c.get(id)).status === status) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${id} never reached ${status}`);
  };
  const settle = (p: Promise<unknown>) => p.catch(() => undefined);

  // A case may answer the workflow ID to record when it is not the case's name (a bulk's chunk).
  const cases: Record<string, () => Promise<void | string>> = {
    succeeded: async () => {
      await c.submit('demo.echo', { a: 1 }, { taskId: 'succeeded', tenant: 'acme' });
      await c.result('succeeded');
    },
    'retried-then-succeeded': async () => {
      await c.submit('demo.fail', { errorClass: 'retryable', times: 2 }, { taskId: 'retried-then-succeeded' });
      await c.result('retried-then-succeeded');
    },
    'throttled-then-succeeded': async () => {
      await c.submit('demo.fail', { errorClass: 'throttled', times: 1, retryAfterMs: 300 }, { taskId: 'throttled-then-succeeded' });
      await c.result('throttled-then-succeeded');
    },
    'dead-lettered-redriven': async () => {
      await c.submit('demo.fail', { errorClass: 'non_retryable', times: 1 }, { taskId: 'dead-lettered-redriven' });
      await until('dead-lettered-redriven', 'dead_lettered');
      await c.redrive('dead-lettered-redriven', { lane: 'high' });
      await c.result('dead-lettered-redriven');
    },
    'dead-lettered-discarded': async () => {
      await c.submit('demo.fail', { errorClass: 'non_retryable', times: 1 }, { taskId: 'dead-lettered-discarded' });
      await until('dead-lettered-discarded', 'dead_lettered');
      await c.discard('dead-lettered-discarded');
      await settle(c.result('dead-lettered-discarded'));
    },
    'paused-resumed': async () => {
      await c.submit('demo.echo', 1, { taskId: 'paused-resumed', lane: 'low' });
      await c.pause('paused-resumed');
      await until('paused-resumed', 'paused');
      await c.redrive('paused-resumed').catch(() => undefined); // a refused operator action changes nothing
      await temporal.workflow.getHandle('paused-resumed').signal(redriveSignal, { lane: 'high' }); // ignored by the workflow
      await c.resume('paused-resumed');
      // The low lane has no pool here: promote it by hand is not possible, so cancel after resume.
      await until('paused-resumed', 'queued');
      await c.cancel('paused-resumed');
      await settle(c.result('paused-resumed'));
    },
    expired: async () => {
      await c.submit('demo.echo', 1, { taskId: 'expired', lane: 'low', ttl: '500ms' });
      await settle(c.result('expired'));
    },
    promoted: async () => {
      await c.submit('demo.report', 'x', { taskId: 'promoted', lane: 'low' });
      await c.result('promoted');
    },
    'cancelled-running': async () => {
      await c.submit('demo.sleep', { ms: 30_000 }, { taskId: 'cancelled-running' });
      await until('cancelled-running', 'running');
      await c.cancel('cancelled-running');
      await settle(c.result('cancelled-running'));
    },
    'plain-client-invalid': async () => {
      const h = await temporal.workflow.start(RUN_TASK_WORKFLOW, {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: 'plain-client-invalid',
        args: [{ type: 'demo.sleep', input: { ms: 'x' } }],
      });
      await settle(h.result());
    },
    'plain-client-delayed': async () => {
      const h = await temporal.workflow.start(RUN_TASK_WORKFLOW, {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: 'plain-client-delayed',
        args: [{ type: 'demo.echo', input: 2, delay: '300ms' }],
      });
      await h.result();
    },
    // A plain client's default options allow a new run of a succeeded ID: it ends as `duplicate`.
    'plain-client-duplicate': async () => {
      const start = () =>
        temporal.workflow.start(RUN_TASK_WORKFLOW, {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: 'plain-client-duplicate',
          args: [{ type: 'demo.echo', input: 4 }],
        });
      await (await start()).result();
      // The success must be in visibility before the second run's resolve step looks for it.
      for (let i = 0; i < 100 && (await c.describe('plain-client-duplicate')).status !== 'succeeded'; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await (await start()).result();
    },
    // TaskClient's start delay: the start-time attributes say `scheduled`, the workflow moves to `queued`.
    'client-delayed': async () => {
      await c.submit('demo.echo', 3, { taskId: 'client-delayed', delay: '300ms' });
      await c.result('client-delayed');
    },
    // One chunk of a bulk, start to finish (slices, memo updates).
    'bulk-intake': async () => {
      await c.submitMany(
        [1, 2, 3].map((i) => ({ type: 'demo.echo', input: { i }, lane: 'normal' as const })),
        { bulkId: 'bulk-intake', tenant: 'acme' },
      );
      await temporal.workflow.getHandle(bulkChunkWorkflowId('bulk-intake', 0)).result();
      return bulkChunkWorkflowId('bulk-intake', 0);
    },
    // A task the intake started (its BulkId attribute set at start).
    'bulk-intake-task': async () => {
      await c.result('bulk-intake-0');
      return 'bulk-intake-0';
    },
    // A chunk cancelled between slices.
    'bulk-intake-cancelled': async () => {
      await c.submitMany(
        Array.from({ length: 300 }, (_, i) => ({ type: 'demo.echo', input: { i }, lane: 'normal' as const })),
        { bulkId: 'bulk-cancelled', tenant: 'acme' },
      );
      for (let i = 0; i < 300 && (await c.bulkStatus('bulk-cancelled')).started === 0; i++) await new Promise((r) => setTimeout(r, 50));
      await c.cancelBulk('bulk-cancelled');
      await temporal.workflow.getHandle(bulkChunkWorkflowId('bulk-cancelled', 0)).result();
      return bulkChunkWorkflowId('bulk-cancelled', 0);
    },
    // A batch parent (runBatch) from split to reduce: 15 shards in one run, one split page.
    batch: async () => {
      await c.submit('demo.yield', { accounts: 150, seed: 1, perShard: 10 }, { taskId: 'batch', lane: 'normal' });
      await c.result('batch');
    },
    // One of its shards: a runTask child of the batch.
    'batch-shard': async () => shardTaskId('batch', 3),
    // 110 shards: the parent drains and continues as new after 100; the last run replays from its carry.
    'batch-continued': async () => {
      await c.submit('demo.yield', { accounts: 1100, seed: 2, perShard: 10 }, { taskId: 'batch-continued', lane: 'normal' });
      await c.result('batch-continued');
    },
    // onShardFailure continue: a shard dead-letters and signals its batch, which finishes listing it.
    'batch-shard-failures': async () => {
      await c.submit(
        'demo.yield',
        { accounts: 100, seed: 3, perShard: 10, failShards: [4] },
        { taskId: 'batch-shard-failures', lane: 'normal' },
      );
      await c.result('batch-shard-failures');
      await c.discard(shardTaskId('batch-shard-failures', 4));
    },
    // The dead-lettered shard itself (signalled its parent, then discarded).
    'batch-shard-dead-lettered': async () => {
      const id = shardTaskId('batch-shard-failures', 4);
      await settle(c.result(id));
      return id;
    },
    // onShardFailure fail_fast: the failure cancels the running shards and fails the batch.
    'batch-fail-fast': async () => {
      await c.submit(
        'demo.yield-strict',
        { accounts: 400, seed: 4, perShard: 10, shardMs: 200, failShards: [1] },
        { taskId: 'batch-fail-fast' },
      );
      await settle(c.result('batch-fail-fast'));
      await c.discard(shardTaskId('batch-fail-fast', 1)).catch(() => undefined);
    },
  };
  const only = process.env.RECORD_ONLY?.split(',').filter(Boolean);
  for (const [name, run] of Object.entries(cases)) {
    if (only && !only.some((o) => name.startsWith(o))) continue;
    const id = (await run()) ?? name;
    const history = await temporal.workflow.getHandle(id).fetchHistory();
    // Binary protobuf: independent of the JSON mapping of whichever protobufjs copy loads it.
    // RECORD_GENERATION names a new set (e.g. `v2`) so older histories stay and keep being replayed.
    const gen = process.env.RECORD_GENERATION ? `.${process.env.RECORD_GENERATION}` : '';
    writeFileSync(join(out, `${name}${gen}.binpb`), proto.api.history.v1.History.encode(history).finish());
    process.stdout.write(`recorded ${name} (${history.events?.length ?? 0} events)\n`);
  }
  await Promise.all(workers.map((w) => w.stop(10_000)));
  await connection.close();
  await server.stop();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
