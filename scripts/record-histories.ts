import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { TaskClient } from '../api/task-client';
import { catalog } from '../examples/demo/catalog';
import { catalog as flowCatalog } from '../test/fixtures/projects/flow/catalog';
import { catalog as keysCatalog } from '../test/fixtures/projects/flow-keys/catalog';
import { keyIdOf } from '../config/debounce';
import { flowLimiterId, flowStateQuery, permitAnswerSignal } from '../config/flow';
import { redriveSignal } from '../config/messages';
import {
  CONTROL_TASK_QUEUE,
  RUN_TASK_WORKFLOW,
  admissionRegistryId,
  bulkChunkWorkflowId,
  debounceWorkflowId,
  shardTaskId,
} from '../config/names';
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
 * The flow cases (RECORD_ONLY=flow, first recorded as v8) run the flow fixture projects' types
 * (test/fixtures/projects/flow-keys: concurrency keys, rate limits; flow: debounce, onConflict) on
 * their own control and pool workers, started only when a flow case is selected; they also record
 * the long-lived flowLimiter and admissionRegistry workflows' histories while still open:
 *   RECORD_GENERATION=v8 RECORD_ONLY=flow npm run record:histories
 * v9 holds the rate limiter paced on its schedule (patch tideway.rate-schedule) and a debounce
 * window closed by maxWait:
 *   RECORD_GENERATION=v9 RECORD_ONLY=flow-rate,flow-limiter-rate,flow-debounce-stream npm run record:histories
 * (keep flow-limiter-rate.v9 and flow-debounce-stream.v9; the rate tasks' own v9 histories repeat v8's)
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
  const only = process.env.RECORD_ONLY?.split(',').filter(Boolean);
  const selected = (name: string) => !only || only.some((o) => name.startsWith(o));
  // The flow fixture projects' workers: their apps (`flowtest`, `flow`) have their own control and pool queues.
  const fixtures = join(__dirname, '..', '..', 'test', 'fixtures', 'projects');
  // Any flow case selected (`RECORD_ONLY=flow` or a narrower `flow-rate,flow-debounce-stream`).
  if (!only || only.some((o) => o.startsWith('flow') || 'flow'.startsWith(o))) {
    for (const project of ['flow-keys', 'flow']) {
      const opts = { config: join(fixtures, project, 'tideway.config.ts'), address: server.address, logFile: join(dir, `${project}.log`) };
      workers.push(spawnWorker({ role: 'control' }, opts), spawnWorker({ role: 'pool', group: 'flow', lane: 'normal' }, opts));
    }
  }
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
  const keys = new TaskClient({ client: temporal, catalog: keysCatalog, admission: { kind: 'off' } });
  const flows = new TaskClient({ client: temporal, catalog: flowCatalog, admission: { kind: 'off' } });
  const waitUntil = async (check: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 300; i++) {
      if (await check().catch(() => false)) return; // e.g. a limiter not started yet
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`never: ${what}`);
  };
  /**
   * Fails the recording when a flow case did not take the path it is named for: a task that waited
   * for its permit got its grant by signal; one granted at once got none.
   */
  const expectAnswerSignals = async (id: string, waited: boolean) => {
    const events = (await temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
    const n = events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === permitAnswerSignal.name).length;
    if (waited ? n === 0 : n > 0)
      throw new Error(`${id}: ${n} permit answer signal(s): it ${waited ? 'never waited' : 'waited'} for its permit`);
  };
  const serialLimiter = flowLimiterId('concurrency', 'flow.serial', 'rec-serial', keysCatalog.app);
  const rateLimiter = flowLimiterId('rate', 'flow.rated', 'rec-rated', keysCatalog.app);
  let debouncedRun = ''; // set by flow-debounce-collector

  // A case may answer the workflow ID to record when it is not the case's name (a bulk's chunk),
  // with a run ID when the run to record is not the latest (a run replaced by a newer one).
  const cases: Record<string, () => Promise<void | string | { workflowId: string; runId: string }>> = {
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
    // Concurrency key (flow.serial, limit 2, the permit taken in the attempt): two slow tasks fill
    // the key; this one ran at once (its attempt's update was granted, no workflow step for it).
    'flow-keyed-ran': async () => {
      const slow = ['flow-keyed-ran', 'flow-keyed-other'];
      await Promise.all(slow.map((id) => keys.submit('flow.serial', { key: 'rec-serial', ms: 2_500 }, { taskId: id })));
      await waitUntil(async () => (await temporal.workflow.getHandle(serialLimiter).query(flowStateQuery)).running === 2, 'the key full');
      // The key is full: this one's attempt comes back `permit_queued`, the workflow awaits the grant, then runs.
      await keys.submit('flow.serial', { key: 'rec-serial', ms: 100 }, { taskId: 'flow-keyed-queued' });
      await Promise.all(slow.map((id) => keys.result(id, 'flow.serial')));
      await expectAnswerSignals('flow-keyed-ran', false);
    },
    'flow-keyed-queued': async () => {
      await keys.result('flow-keyed-queued', 'flow.serial');
      await expectAnswerSignals('flow-keyed-queued', true);
    },
    // The key's limiter (open: it idles 60 s before completing): three updates, a grant by signal, three releases.
    'flow-limiter-concurrency': async () => serialLimiter,
    // A key with pool leases (flow.wide, limit 8: a process leases up to 2): the lease update path.
    'flow-limiter-leased': async () => {
      const id = flowLimiterId('concurrency', 'flow.wide', 'rec-wide', keysCatalog.app);
      const warm = Array.from({ length: 4 }, (_, i) => `flow-wide-${i}`);
      await Promise.all(warm.map((t) => keys.submit('flow.wide', { key: 'rec-wide', ms: 300 }, { taskId: t })));
      await Promise.all(warm.map((t) => keys.result(t, 'flow.wide')));
      await waitUntil(async () => ((await temporal.workflow.getHandle(id).query(flowStateQuery)).leased ?? 0) > 0, 'a lease');
      return id;
    },
    // Rate limit, mode queue (60/min, paced one a second): the first is granted in the call, the
    // second waits about a second for its grant by signal.
    'flow-rate-granted': async () => {
      await keys.submit('flow.rated', { key: 'rec-rated', ms: 50 }, { taskId: 'flow-rate-granted' });
      await waitUntil(async () => (await temporal.workflow.getHandle(rateLimiter).query(flowStateQuery)).running === 1, 'the first grant');
      await keys.submit('flow.rated', { key: 'rec-rated', ms: 50 }, { taskId: 'flow-rate-queued' });
      await keys.result('flow-rate-granted', 'flow.rated');
      await expectAnswerSignals('flow-rate-granted', false);
    },
    'flow-rate-queued': async () => {
      await keys.result('flow-rate-queued', 'flow.rated');
      await expectAnswerSignals('flow-rate-queued', true);
    },
    'flow-limiter-rate': async () => rateLimiter,
    // Rate limit, mode drop (5/min per tenant): the sixth task of the minute ends throttled_dropped.
    'flow-rate-dropped': async () => {
      for (let i = 0; i < 5; i++) await keys.submit('flow.dropped', { key: 'x', ms: 10 }, { taskId: `flow-drop-${i}`, tenant: 'rec-drop' });
      for (let i = 0; i < 5; i++) await keys.result(`flow-drop-${i}`, 'flow.dropped');
      await keys.submit('flow.dropped', { key: 'x', ms: 10 }, { taskId: 'flow-rate-dropped', tenant: 'rec-drop' });
      await settle(keys.result('flow-rate-dropped', 'flow.dropped'));
      const status = (await keys.get('flow-rate-dropped')).status;
      if (status !== 'throttled_dropped') throw new Error(`flow-rate-dropped ended ${status}`);
    },
    // Debounce (flow.notify, 3 s of quiet): three submits collapse into one window; its collector…
    'flow-debounce-collector': async () => {
      let taskId = '';
      for (let n = 1; n <= 3; n++) {
        taskId = (await flows.submit('flow.notify', { user: 'rec-user', n })).taskId;
        await new Promise((r) => setTimeout(r, 300));
      }
      await flows.result(taskId, 'flow.notify');
      const collector = debounceWorkflowId('default', 'flow.notify', keyIdOf('rec-user'));
      await waitUntil(async () => (await temporal.workflow.getHandle(collector).describe()).status.name === 'COMPLETED', 'the collector');
      debouncedRun = taskId;
      return collector;
    },
    // …and the one run it started (a runTask with the last input).
    'flow-debounce-run': async () => debouncedRun,
    // Debounce with collect under a continuous stream (flow.digest: 3 s quiet, 10 s maxWait): a
    // submit every 500 ms for 12 s, so the first window closes by maxWait, with every input.
    'flow-debounce-stream': async () => {
      const collector = debounceWorkflowId('default', 'flow.digest', keyIdOf('rec-stream'));
      let last = (await flows.submit('flow.digest', { user: 'rec-stream', n: 0 })).taskId;
      const firstRun = (await temporal.workflow.getHandle(collector).describe()).runId;
      const t0 = Date.now();
      for (let n = 1; Date.now() - t0 < 12_000; n++) {
        last = (await flows.submit('flow.digest', { user: 'rec-stream', n })).taskId;
        await new Promise((r) => setTimeout(r, 500));
      }
      await flows.result(last, 'flow.digest');
      const first = await temporal.workflow.getHandle(collector, firstRun).result();
      // A window closed by maxWait holds about 20 submits; one closed by quiet would hold them all.
      if (!(first.submits >= 15 && first.submits <= 22))
        throw new Error(`flow-debounce-stream: first window held ${first.submits} submits`);
      return { workflowId: collector, runId: firstRun };
    },
    // onConflict replace_queued (flow.sync, singletonKey): the delayed task a newer submit replaced
    // (cancelled in its start delay). The other modes and dedupeFor act in the client only (start
    // policies, a cancel): their runs' histories are the plain ones above (succeeded, cancelled-running).
    'flow-conflict-replaced': async () => {
      const queued = await flows.submit('flow.sync', { account: 'rec-acct', ms: 0, v: 'old' }, { delay: '1m' });
      const runId = (await flows.handle(queued.taskId).describe()).runId;
      await flows.submit('flow.sync', { account: 'rec-acct', ms: 0, v: 'new' });
      await flows.result(queued.taskId, 'flow.sync');
      return { workflowId: queued.taskId, runId };
    },
    // The admission registry (open: it runs for good): a client with a fixed normal-lane budget
    // (cluster scope) checks in at its first paced submit and leaves at close.
    'flow-admission-registry': async () => {
      const budgeted = new TaskClient({
        client: temporal,
        catalog: keysCatalog,
        admission: { kind: 'fixed', spec: { normal: { perSecond: 10, burst: 10 } }, memberTtlMs: 3_000 },
      });
      await budgeted.submit('flow.plain', { key: 'x', ms: 0 }, { taskId: 'flow-admitted' });
      await budgeted.result('flow-admitted', 'flow.plain');
      await budgeted.close();
      return admissionRegistryId(keysCatalog.app);
    },
  };
  for (const [name, run] of Object.entries(cases)) {
    if (!selected(name)) continue;
    const ran = (await run()) ?? name;
    const { workflowId: id, runId } = typeof ran === 'string' ? { workflowId: ran, runId: undefined } : ran;
    const history = await temporal.workflow.getHandle(id, runId).fetchHistory();
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
