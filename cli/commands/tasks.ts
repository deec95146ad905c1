import { InvalidArgumentError, Option, type Command } from 'commander';
import type { PoolView } from '../../api/http-client';
import { BATCH_OPERATIONS } from '../../api/http/schemas';
import { formatMs } from '../../config/duration';
import { LANES, TASK_STATUSES, type Lane, type TaskStatus } from '../../config/names';
import { OVERLAP_POLICIES } from '../../config/schedule';
import { batchProgressLine, printJson, table } from '../format';
import { withTaskApi } from '../task-api';
import { registerBulkCommands } from './bulk';
import { given, say, tenantOption } from './common';
import { ON_CONFLICT_MODES, type OnConflict } from '../../config/conflict';
import { debounceReason } from '../../api/flow-submit';

/**
 * Every task verb: submit, get, list, cancel, pause, resume, redrive, discard, bulk, batch,
 * schedules and pools. Each parses its arguments, calls the run's TaskApi (cli/task-api.ts: over
 * HTTP with TIDEWAY_URL, else directly over Temporal) and prints the answer, the same in both modes.
 */

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${(err as Error).message}); quote it, e.g. '{"ms":1000}'`);
  }
}

/** Adds the task verbs to the CLI. */
export function registerTaskCommands(program: Command): void {
  program
    .command('submit')
    .description('submit a task; prints its ID (same --id twice runs it once)')
    .argument('<type>', 'task type, e.g. demo.echo (see `tideway types`)')
    .argument('[input]', 'task input as JSON', parseJson, {})
    .option('--id <taskId>', 'task ID for dedupe (default: a random UUID)')
    .addOption(new Option('--lane <lane>', 'priority lane').choices(LANES))
    .addOption(tenantOption())
    .option('--delay <duration>', "start no earlier than this from now, e.g. '30s'")
    .option('--ttl <duration>', "expire if not started within this, e.g. '10m'")
    .option('--tag <tag>', 'caller tag the handler forwards downstream (ctx.tag.headers(): x-tideway-tag)')
    .addOption(new Option('--on-conflict <mode>', 'when a task with this ID is open').choices(ON_CONFLICT_MODES))
    .option('--dedupe-for <duration>', "refuse this ID for this long after its task closed, even after success, e.g. '24h'")
    .option('--debounce-key <key>', 'debounce this submit under a key (the type declares period/maxWait, or give them)')
    .option('--debounce-period <duration>', "quiet time before the debounced run starts, e.g. '30s'")
    .option('--debounce-max-wait <duration>', "the debounced run starts at the latest this long after the window opened, e.g. '5m'")
    .option('--wait', 'wait for the result and print it')
    .option('--json', 'machine-readable output')
    .action(
      async (
        type: string,
        input: unknown,
        o: {
          id?: string;
          lane?: Lane;
          tenant?: string;
          delay?: string;
          ttl?: string;
          tag?: string;
          onConflict?: OnConflict;
          dedupeFor?: string;
          debounceKey?: string;
          debouncePeriod?: string;
          debounceMaxWait?: string;
          wait?: boolean;
          json?: boolean;
        },
      ) =>
        withTaskApi({ tenant: o.tenant }, async (api) => {
          const res = await api.submitBody({
            type,
            input,
            ...given({
              taskId: o.id,
              lane: o.lane,
              delay: o.delay,
              ttl: o.ttl,
              tag: o.tag,
              onConflict: o.onConflict,
              dedupeFor: o.dedupeFor,
            }),
            ...(o.debounceKey !== undefined
              ? { debounce: { key: o.debounceKey, ...given({ period: o.debouncePeriod, maxWait: o.debounceMaxWait }) } }
              : {}),
          });
          if (!o.wait) {
            if (o.json) printJson(res);
            else if (res.debounce) say(`${res.taskId} ${res.status} (key ${res.debounce.key}): ${debounceReason(res.debounce)}`);
            else
              say(
                `${res.duplicate ? 'duplicate: ' : ''}${res.replaced ? `replaced ${res.replaced.runId} (${res.replaced.how}): ` : ''}${res.taskId} ${res.status}`,
              );
            return;
          }
          if (!o.json) say(`${res.taskId} ${res.duplicate ? '(duplicate) ' : ''}submitted; waiting for the result...`);
          const result = await api.result(res.taskId);
          if (o.json) printJson({ ...res, result });
          else say(JSON.stringify(result));
        }),
    );

  program
    .command('get')
    .description("show a task's state (status, attempts, last error, result)")
    .argument('<taskId>')
    .addOption(tenantOption())
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { tenant?: string; json?: boolean }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        const s = await api.get(id);
        if (o.json) return printJson(s);
        const rows = Object.entries({ ...s, flow: undefined, timestamps: undefined, ...s.timestamps }).filter(([, v]) => v !== undefined);
        say(rows.map(([k, v]) => `${k.padEnd(12)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n'));
        // Flow control: the task's keys, and why it waits when it does.
        if (s.flow) {
          const keys = [s.flow.concurrencyKey && `concurrency ${s.flow.concurrencyKey}`, s.flow.rateKey && `rate ${s.flow.rateKey}`];
          say(`${'flow key'.padEnd(12)} ${keys.filter(Boolean).join(', ')}`);
          if (s.flow.waiting) say(`${'waiting'.padEnd(12)} ${s.flow.waiting.reason} (since ${s.flow.waiting.since})`);
        }
        // A batch task: its shards as a progress bar.
        if (s.batch) say(`${'progress'.padEnd(12)} ${batchProgressLine(s.batch)}`);
      }),
    );

  program
    .command('list')
    .description("list the tenant's tasks (newest first), filtered by search attributes")
    .option('--type <type>', 'task type')
    .option('--group <group>', 'service group')
    .addOption(new Option('--lane <lane>', 'lane').choices(LANES))
    .addOption(new Option('--status <status>', 'status').choices(TASK_STATUSES))
    .addOption(tenantOption())
    .option('--limit <n>', 'page size', (v) => Number(v), 50)
    .option('--page-token <token>', 'continue from a previous page')
    .option('--json', 'machine-readable output')
    .action(
      async (o: {
        type?: string;
        group?: string;
        lane?: Lane;
        status?: TaskStatus;
        tenant?: string;
        limit: number;
        pageToken?: string;
        json?: boolean;
      }) =>
        withTaskApi({ tenant: o.tenant }, async (api) => {
          const filter = given({ type: o.type, group: o.group, lane: o.lane, status: o.status });
          const res = await api.list(filter, { pageSize: o.limit, ...given({ pageToken: o.pageToken }) });
          if (o.json) return printJson(res);
          say(table(res.tasks as unknown as Record<string, unknown>[], ['taskId', 'type', 'status', 'lane', 'tenant', 'startTime']));
          if (res.nextPageToken) say(`more: --page-token ${res.nextPageToken}`);
        }),
    );

  const describe = {
    cancel: 'cancel a task (a running handler sees its AbortSignal fire)',
    pause: 'hold a task: no new attempt starts until `resume` (a running attempt finishes)',
    resume: 'release a paused task',
    discard: 'close a dead-lettered task as failed now',
  };
  for (const action of ['cancel', 'pause', 'resume', 'discard'] as const) {
    program
      .command(action)
      .description(describe[action])
      .argument('<taskId>')
      .addOption(tenantOption())
      .action(async (id: string, o: { tenant?: string }) =>
        withTaskApi({ tenant: o.tenant }, async (api) => {
          await api[action](id);
          say(`${id} ${action} requested`);
        }),
      );
  }
  program
    .command('redrive')
    .description('run a dead-lettered task again (optionally in another lane), or the failed shards of a finished batch')
    .argument('<taskId>')
    .addOption(new Option('--lane <lane>', 'run it on this lane from now on').choices(LANES))
    .addOption(tenantOption())
    .action(async (id: string, o: { lane?: Lane; tenant?: string }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        const r = await api.redrive(id, given({ lane: o.lane }));
        if (r.shards === undefined) say(`${id} redrive requested`);
        else {
          const unlisted = (r.failed ?? r.shards) - r.shards;
          say(
            `redriving ${r.shards} failed shard${r.shards === 1 ? '' : 's'} of ${id}` +
              (unlisted > 0 ? ` (${unlisted} more failed beyond the IDs a batch keeps)` : ''),
          );
        }
      }),
    );

  registerBulkCommands(program);

  const batch = program
    .command('batch')
    .description('pause, resume, cancel or redrive every task matching a filter (Temporal batch operation)');
  for (const op of BATCH_OPERATIONS) {
    batch
      .command(op)
      .description(`${op} all your running tasks matching the filter`)
      .option('--type <type>', 'task type')
      .option('--group <group>', 'service group')
      .addOption(new Option('--lane <lane>', 'lane').choices(LANES))
      .addOption(new Option('--status <status>', 'status').choices(TASK_STATUSES))
      .option('--wait', 'wait until the batch completes, showing progress')
      .addOption(tenantOption())
      .option('--json', 'machine-readable output')
      .action(
        async (o: { type?: string; group?: string; lane?: Lane; status?: TaskStatus; wait?: boolean; tenant?: string; json?: boolean }) =>
          withTaskApi({ tenant: o.tenant }, async (api) => {
            const filter = given({ type: o.type, group: o.group, lane: o.lane, status: o.status });
            const started = await api.startBatch({ operation: op, filter });
            if (!o.wait) {
              if (o.json) printJson(started);
              else say(`batch ${started.batchId} started (${started.query})`);
              return;
            }
            for (;;) {
              const s = await api.getBatch(started.batchId);
              if (!o.json) process.stderr.write(`\r${s.state} ${s.completed + s.failed}/${s.total} (failed ${s.failed})`);
              if (s.state !== 'running') {
                if (o.json) printJson(s);
                else process.stderr.write('\n');
                return;
              }
              await new Promise((r) => setTimeout(r, 500));
            }
          }),
      );
  }
  batch
    .command('status')
    .description('progress of a batch')
    .argument('<batchId>')
    .addOption(tenantOption())
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { tenant?: string; json?: boolean }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        const s = await api.getBatch(id);
        if (o.json) printJson(s);
        else say(table([s as unknown as Record<string, unknown>], ['batchId', 'operation', 'state', 'total', 'completed', 'failed']));
      }),
    );

  const sch = program
    .command('schedules')
    .description('your cron tasks (Temporal Schedules)')
    .addHelpText(
      'after',
      '\nThe catalog\'s own schedules (IDs "tideway.*") are listed and acted on in direct mode only: the HTTP API shows a tenant its own.',
    );
  sch
    .command('list')
    .description("the tenant's schedules with their next fire times (direct mode: then the catalog's)")
    .addOption(tenantOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { tenant?: string; json?: boolean }) =>
      withTaskApi({ tenant: o.tenant }, async (api) => {
        const rows = await api.schedules.list();
        if (o.json) return printJson(rows);
        say(
          table(rows.map((r) => ({ ...r, cron: r.cron.join(' | '), next: r.nextFires[0] })) as unknown as Record<string, unknown>[], [
            'id',
            'type',
            'cron',
            'paused',
            'next',
          ]),
        );
      }),
    );
  sch
    .command('create')
    .description('create a schedule: tideway schedules create nightly "0 3 * * *" demo.echo \'{"a":1}\'')
    .argument('<id>', 'schedule name: lowercase letters, digits, . _ -')
    .argument('<cron>', '5 fields, or 6 with seconds first')
    .argument('<type>', 'task type')
    .argument('[input]', 'task input as JSON', parseJson)
    .option('--timezone <tz>', 'IANA time zone of the cron expression (default UTC)')
    .addOption(new Option('--lane <lane>', 'lane of every fire').choices(LANES))
    .addOption(new Option('--overlap <policy>', 'what a fire does while the previous one runs (default SKIP)').choices(OVERLAP_POLICIES))
    .option('--paused', 'create it paused')
    .addOption(tenantOption())
    .option('--json', 'machine-readable output')
    .action(
      async (
        id: string,
        cron: string,
        type: string,
        input: unknown,
        o: {
          timezone?: string;
          lane?: Lane;
          overlap?: (typeof OVERLAP_POLICIES)[number];
          paused?: boolean;
          tenant?: string;
          json?: boolean;
        },
      ) =>
        withTaskApi({ tenant: o.tenant }, async (api) => {
          const s = await api.schedules.create({
            id,
            cron,
            type,
            input,
            ...given({ timezone: o.timezone, lane: o.lane, overlap: o.overlap }),
            ...(o.paused ? { paused: true } : {}),
          });
          if (o.json) printJson(s);
          else say(`schedule ${s.id} created; next fires: ${s.nextFires.slice(0, 3).join(', ')}`);
        }),
    );
  const scheduleActions = { pause: 'pause a schedule', resume: 'resume a paused schedule', trigger: 'fire it now', delete: 'delete it' };
  for (const a of ['pause', 'resume', 'trigger', 'delete'] as const) {
    sch
      .command(a)
      .description(scheduleActions[a])
      .argument('<id>', 'schedule name (or, in direct mode, a catalog schedule ID "tideway.*")')
      .addOption(tenantOption())
      .action(async (id: string, o: { tenant?: string }) =>
        withTaskApi({ tenant: o.tenant }, async (api) => {
          await api.schedules[a](id);
          say(`schedule ${id}: ${a} done`);
        }),
      );
  }

  program
    .command('pools')
    .description("per pool: backlog, backlog age, add rate, replicas and desired replicas (from the scaler's state), next forecast fires")
    .option('--state-file <file>', 'scaler state file (direct mode only; default <data dir>/scaler-state.json)')
    .option('--json', 'machine-readable output')
    .action(async (o: { stateFile?: string; json?: boolean }) =>
      withTaskApi({ scalerStateFile: o.stateFile }, async (api) => {
        const pools = await api.pools();
        if (o.json) return printJson({ pools });
        say(table(pools.map(poolRow)));
        if (pools.every((p) => p.replicas === null)) {
          say('No running scaler reports replicas (see `tideway scaler`, or `tideway dev`): showing live backlog only.');
        }
      }),
    );
}

/** One pool as a table row; the forecast is what the scaler's state file adds. */
function poolRow(p: PoolView): Record<string, unknown> {
  const forecast = p.forecast as
    | {
        reason?: string;
        nextFires?: { at: string; scheduleId: string; expectedTasks: number; sizeSource?: string; maxParallel?: number }[];
      }
    | undefined;
  const n = (v: number | null) => (v === null ? '-' : String(v));
  return {
    pool: `${p.group}.${p.lane}`,
    backlog: n(p.backlog),
    age: p.backlogAgeMs ? formatMs(p.backlogAgeMs) : '-',
    'add/s': p.addRate === null ? '-' : p.addRate.toFixed(1),
    replicas: n(p.replicas),
    desired: n(p.desired),
    overloaded: p.overloaded ? 'yes' : 'no',
    reason: forecast?.reason ?? '-',
    'next fires':
      (forecast?.nextFires ?? [])
        .slice(0, 2)
        .map(
          (f) =>
            `${f.at.slice(11, 19)}Z x${f.expectedTasks}${f.sizeSource === 'learned' ? ' learned' : ''}` +
            `${f.maxParallel !== undefined ? ` ≤${f.maxParallel}` : ''} (${f.scheduleId})`,
        )
        .join(', ') || '-',
  };
}
