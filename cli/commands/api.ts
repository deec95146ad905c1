import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  HttpTaskClient,
  type BatchBody,
  type BatchStatus,
  type BulkResult,
  type PoolView,
  type ScheduleBody,
  type ScheduleView,
} from '../../api/http-client';
import { describeBatch, startBatch } from '../../api/http/batches';
import { QueueStatsReader } from '../../api/http/backpressure';
import { describePools } from '../../api/http/pools';
import { BATCH_OPERATIONS, MAX_BULK } from '../../api/http/schemas';
import { createSchedule, describeSchedule, listSchedules, scheduleAction } from '../../api/http/schedules';
import { startApiServer } from '../../api/http/start';
import { TenantTasks } from '../../api/http/tasks';
import type { AnyTaskClient } from '../../api/task-client';
import type { Catalog } from '../../config/catalog-schema';
import { DEFAULT_TENANT, LANES, TASK_STATUSES, type Lane } from '../../config/names';
import { CATALOG_SCHEDULE_PREFIX, OVERLAP_POLICIES } from '../../config/schedule';
import { cliProject, projectTaskClient } from '../project';
import { printJson, table } from '../format';

/**
 * The operator commands over the HTTP API (when TIDEWAY_URL and TIDEWAY_API_KEY are set) or
 * directly over Temporal with the same server-side code (tenant from --tenant, default "default").
 */

/** What every command below needs; HttpTaskClient has exactly these, DirectApi mirrors them. */
type Api = Pick<
  HttpTaskClient,
  'submitBulk' | 'pause' | 'resume' | 'redrive' | 'discard' | 'startBatch' | 'getBatch' | 'schedules' | 'pools' | 'close'
>;

/** The HTTP client's operations, run in-process over Temporal for one tenant. */
class DirectApi implements Api {
  private readonly tasks: TenantTasks;
  constructor(
    private readonly client: AnyTaskClient,
    private readonly tenant: string,
  ) {
    this.tasks = new TenantTasks(client, client.catalog as unknown as Catalog, undefined);
  }
  async close() {
    await this.client.close();
  }
  submitBulk = (items: readonly unknown[]): Promise<BulkResult> => this.tasks.submitBulk(this.tenant, items);
  pause = (id: string) => this.tasks.act(this.tenant, id, 'pause');
  resume = (id: string) => this.tasks.act(this.tenant, id, 'resume');
  redrive = (id: string, opts: { lane?: Lane } = {}) => this.tasks.act(this.tenant, id, 'redrive', opts);
  discard = (id: string) => this.tasks.act(this.tenant, id, 'discard');
  startBatch = (b: BatchBody) => startBatch(this.client.temporal, this.tenant, b, this.client.catalog.controlQueue);
  getBatch = (id: string): Promise<BatchStatus> => describeBatch(this.client.temporal, this.tenant, id);
  // Direct mode is the operator's view: the tenant's own schedules plus the catalog's (`tideway.*`),
  // which belong to no tenant and are acted on by their full schedule ID.
  schedules = {
    list: async (): Promise<ScheduleView[]> => {
      const own = await listSchedules(this.client.temporal, this.tenant);
      const fromCatalog = (await this.client.schedules.list())
        .filter((c) => c.source === 'catalog')
        .map((c): ScheduleView => ({
          id: c.scheduleId,
          scheduleId: c.scheduleId,
          ...(c.taskType ? { type: c.taskType } : {}),
          cron: c.cron,
          ...(c.timezone ? { timezone: c.timezone } : {}),
          paused: c.paused,
          nextFires: c.nextFires,
          recentActions: c.recentActions,
        }));
      return [...own, ...fromCatalog];
    },
    get: (id: string) => describeSchedule(this.client.temporal, this.tenant, id),
    create: (b: ScheduleBody) => createSchedule(this.client.temporal, this.client.catalog as unknown as Catalog, this.tenant, b),
    pause: (id: string) =>
      isCatalogSchedule(id) ? this.client.schedules.pause(id) : scheduleAction(this.client.temporal, this.tenant, id, 'pause'),
    resume: (id: string) =>
      isCatalogSchedule(id) ? this.client.schedules.resume(id) : scheduleAction(this.client.temporal, this.tenant, id, 'resume'),
    trigger: (id: string) =>
      isCatalogSchedule(id) ? this.client.schedules.trigger(id) : scheduleAction(this.client.temporal, this.tenant, id, 'trigger'),
    delete: (id: string) =>
      isCatalogSchedule(id) ? this.client.schedules.delete(id) : scheduleAction(this.client.temporal, this.tenant, id, 'delete'),
  };
  pools = (): Promise<PoolView[]> =>
    describePools(this.client.catalog as unknown as Catalog, new QueueStatsReader(this.client.temporal), undefined, []);
}

function isCatalogSchedule(id: string): boolean {
  return id.startsWith(CATALOG_SCHEDULE_PREFIX);
}

async function withApi<R>(tenant: string | undefined, fn: (api: Api) => Promise<R>): Promise<R> {
  const http = HttpTaskClient.fromEnv();
  let api: Api;
  if (http) {
    api = http;
  } else {
    const client = await projectTaskClient(await cliProject());
    api = new DirectApi(client, tenant ?? DEFAULT_TENANT);
  }
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const tenantOption = () => new Option('--tenant <tenant>', 'tenant (direct mode only; over HTTP the API key decides)');

/** Draws `[#####.....] 500/1000` on stderr when it is a terminal, else prints every tenth. */
function progress(total: number): (done: number, accepted: number, rejected: number) => void {
  const tty = process.stderr.isTTY;
  let lastPct = -1;
  return (done, accepted, rejected) => {
    const pct = Math.floor((done / total) * 100);
    if (!tty && pct < lastPct + 10 && done < total) return;
    lastPct = pct;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  accepted ${accepted}  rejected ${rejected}`;
    process.stderr.write(tty ? `\r${bar}${done === total ? '\n' : ''}` : `${bar}\n`);
  };
}

/** Adds submit-bulk, pause, resume, redrive, discard, batch, schedules, pools and api to the CLI. */
export function registerApiCommands(program: Command): void {
  program
    .command('bulk')
    .description(`submit every line of a JSONL file ({"type","input",...} per line) in requests of up to ${MAX_BULK}`)
    .argument('<file>', 'JSONL file, one task body per line')
    .option('--chunk <n>', 'tasks per bulk request', (v) => Number(v), MAX_BULK)
    .addOption(tenantOption())
    .option('--json', 'machine-readable output (every item result)')
    .action(async (file: string, o: { chunk: number; tenant?: string; json?: boolean }) =>
      withApi(o.tenant, async (api) => {
        const lines = readFileSync(file, 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        const items = lines.map((l, i) => {
          try {
            return JSON.parse(l) as unknown;
          } catch {
            return { __invalidJsonLine: i + 1 };
          }
        });
        const chunk = Math.max(1, Math.min(MAX_BULK, o.chunk));
        const tick = progress(items.length);
        const all: BulkResult['results'] = [];
        let accepted = 0;
        for (let start = 0; start < items.length; start += chunk) {
          const r = await api.submitBulk(items.slice(start, start + chunk));
          accepted += r.accepted;
          all.push(...r.results.map((x) => ({ ...x, index: x.index + start })));
          tick(all.length, accepted, all.length - accepted);
        }
        if (o.json) return printJson({ accepted, rejected: all.length - accepted, results: all });
        const bad = all.filter((r) => !r.ok);
        say(`${accepted} accepted, ${bad.length} rejected`);
        if (bad.length)
          say(
            table(
              bad.slice(0, 20).map((r) => ({ line: r.index + 1, status: r.httpStatus, error: r.error?.message })),
              ['line', 'status', 'error'],
            ),
          );
      }),
    );

  for (const action of ['pause', 'resume', 'discard'] as const) {
    program
      .command(action)
      .description(`${action} one task`)
      .argument('<taskId>')
      .addOption(tenantOption())
      .action(async (id: string, o: { tenant?: string }) =>
        withApi(o.tenant, async (api) => {
          await api[action](id);
          say(`${id} ${action} requested`);
        }),
      );
  }
  program
    .command('redrive')
    .description('run a dead-lettered task again (optionally in another lane)')
    .argument('<taskId>')
    .addOption(new Option('--lane <lane>').choices(LANES))
    .addOption(tenantOption())
    .action(async (id: string, o: { lane?: Lane; tenant?: string }) =>
      withApi(o.tenant, async (api) => {
        await api.redrive(id, o.lane ? { lane: o.lane } : {});
        say(`${id} redrive requested`);
      }),
    );

  const batch = program
    .command('batch')
    .description('pause, resume, cancel or redrive every task matching a filter (Temporal batch operation)');
  for (const op of BATCH_OPERATIONS) {
    batch
      .command(op)
      .description(`${op} all your running tasks matching the filter`)
      .option('--type <type>')
      .option('--group <group>')
      .addOption(new Option('--lane <lane>').choices(LANES))
      .addOption(new Option('--status <status>').choices(TASK_STATUSES))
      .option('--wait', 'wait until the batch completes, showing progress')
      .addOption(tenantOption())
      .option('--json')
      .action(
        async (o: {
          type?: string;
          group?: string;
          lane?: Lane;
          status?: (typeof TASK_STATUSES)[number];
          wait?: boolean;
          tenant?: string;
          json?: boolean;
        }) =>
          withApi(o.tenant, async (api) => {
            const filter = Object.fromEntries(
              Object.entries({ type: o.type, group: o.group, lane: o.lane, status: o.status }).filter(([, v]) => v),
            );
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
    .option('--json')
    .action(async (id: string, o: { tenant?: string; json?: boolean }) =>
      withApi(o.tenant, async (api) => {
        const s = await api.getBatch(id);
        if (o.json) printJson(s);
        else say(table([s as unknown as Record<string, unknown>], ['batchId', 'operation', 'state', 'total', 'completed', 'failed']));
      }),
    );

  const sch = program.command('schedules').description('your cron tasks (Temporal Schedules)');
  sch
    .command('list')
    .addOption(tenantOption())
    .option('--json')
    .action(async (o: { tenant?: string; json?: boolean }) =>
      withApi(o.tenant, async (api) => {
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
    .argument('<id>')
    .argument('<cron>', '5 fields, or 6 with seconds first')
    .argument('<type>')
    .argument('[input]', 'JSON input', (v: string) => JSON.parse(v) as unknown)
    .option('--timezone <tz>')
    .addOption(new Option('--lane <lane>').choices(LANES))
    .addOption(new Option('--overlap <policy>').choices(OVERLAP_POLICIES))
    .option('--paused')
    .addOption(tenantOption())
    .option('--json')
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
        withApi(o.tenant, async (api) => {
          const s = await api.schedules.create({
            id,
            cron,
            type,
            input,
            ...(o.timezone ? { timezone: o.timezone } : {}),
            ...(o.lane ? { lane: o.lane } : {}),
            ...(o.overlap ? { overlap: o.overlap } : {}),
            ...(o.paused ? { paused: true } : {}),
          });
          if (o.json) printJson(s);
          else say(`schedule ${s.id} created; next fires: ${s.nextFires.slice(0, 3).join(', ')}`);
        }),
    );
  for (const a of ['pause', 'resume', 'trigger', 'delete'] as const) {
    sch
      .command(a)
      .argument('<id>')
      .addOption(tenantOption())
      .action(async (id: string, o: { tenant?: string }) =>
        withApi(o.tenant, async (api) => {
          await api.schedules[a](id);
          say(`schedule ${id}: ${a} done`);
        }),
      );
  }

  // The scaler's commands may already define `pools` (with replicas from its own state); keep theirs then.
  const poolsTaken = program.commands.some((c) => c.name() === 'pools');
  (poolsTaken ? new Command('pools') : program.command('pools'))
    .description('per pool: backlog, backlog age, add/dispatch rate, replicas, desired')
    .option('--json')
    .action(async (o: { json?: boolean }) =>
      withApi(undefined, async (api) => {
        const rows = await api.pools();
        if (o.json) return printJson(rows);
        say(
          table(rows as unknown as Record<string, unknown>[], [
            'taskQueue',
            'backlog',
            'backlogAgeMs',
            'addRate',
            'dispatchRate',
            'replicas',
            'desired',
            'overloaded',
          ]),
        );
      }),
    );

  program
    .command('api')
    .description("serve the project's HTTP API (config `api`, or TIDEWAY_PORT, TIDEWAY_API_KEYS / TIDEWAY_API_KEYS_FILE)")
    .option('--dev', 'create and print a key for tenant "default" when none is configured')
    .action(async (o: { dev?: boolean }) => {
      const api = await startApiServer({ project: await cliProject(), dev: Boolean(o.dev) });
      const stop = () => void api.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
