import { Command, InvalidArgumentError, Option } from 'commander';
import { HttpTaskClient } from '../api/http-client';
import { TaskClient } from '../api/task-client';
import { LANES, TASK_STATUSES, type Lane, type TaskStatus } from '../config/names';
import { catalog } from '../config/catalog';
import { loadSettings } from '../config/settings';
import { ensureTemporal } from '../temporal';
import { runDev } from './dev';
import { registerScalerCommands } from './commands/scaler';
import { registerApiCommands } from './commands/api';
import { registerVersionCommands } from './commands/versions';
import { printJson, table } from './format';

/** `tideway`: run Tideway locally and manage tasks from a terminal. */
const program = new Command()
  .name('tideway')
  .description('Durable tasks on Temporal: submit, inspect and manage tasks; run a local stack.')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Environment:
  TEMPORAL_ADDRESS     use this Temporal server instead of starting a dev server (host:port)
  TEMPORAL_NAMESPACE   namespace (default "default")
  TIDEWAY_DATA_DIR     where the dev server keeps its SQLite file and logs (default .tideway)

Examples:
  npx tideway dev
  npx tideway submit demo.echo '{"hello":"world"}' --wait
  npx tideway submit demo.sleep '{"ms":5000}' --id nightly-42 --lane high
  npx tideway list --status running
  npx tideway get nightly-42`,
  );

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON (${(err as Error).message}); quote it, e.g. '{"ms":1000}'`);
  }
}

async function withClient<R>(fn: (c: TaskClient | HttpTaskClient) => Promise<R>): Promise<R> {
  // HTTP mode when TIDEWAY_URL is set: the API key decides the tenant.
  const http = HttpTaskClient.fromEnv();
  if (http) return fn(http);
  const s = loadSettings();
  const client = await TaskClient.connect({ address: s.temporalAddress ?? `127.0.0.1:${s.temporalPort}`, namespace: s.namespace });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

program
  .command('dev')
  .description('start the Temporal dev server (or use TEMPORAL_ADDRESS), the control worker and every pool')
  .option('--no-pools', 'run neither the scaler nor any pool process (tasks queue up until pools run)')
  .action(async (o: { pools: boolean }) => runDev({ pools: o.pools }));

program
  .command('temporal')
  .description("only start the Temporal dev server with Tideway's search attributes (building the CLI if needed)")
  .action(async () => {
    const t = await ensureTemporal(loadSettings(), (l) => process.stdout.write(`${l}\n`));
    process.stdout.write(`Temporal at ${t.address}${t.uiUrl ? `, Web UI ${t.uiUrl}` : ''}. Ctrl-C to stop.\n`);
    const stop = () => void t.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

program
  .command('types')
  .description('list the task types in the catalog')
  .option('--json', 'machine-readable output')
  .action((o: { json?: boolean }) => {
    const rows = [...catalog.byName.values()].map((t) => ({
      type: t.name,
      group: t.group,
      lane: t.lane,
      maxAttempts: t.retry.maxAttempts,
      description: t.def.description,
    }));
    if (o.json) printJson(rows);
    else process.stdout.write(`${table(rows)}\n`);
  });

program
  .command('submit')
  .description('submit a task; prints its ID (same --id twice runs it once)')
  .argument('<type>', 'task type, e.g. demo.echo (see `tideway types`)')
  .argument('[input]', 'task input as JSON', parseJson, {})
  .option('--id <taskId>', 'task ID for dedupe (default: a random UUID)')
  .addOption(new Option('--lane <lane>', 'priority lane').choices(LANES))
  .option('--tenant <tenant>', 'tenant the task belongs to')
  .option('--delay <duration>', "start no earlier than this from now, e.g. '30s'")
  .option('--ttl <duration>', "expire if not started within this, e.g. '10m'")
  .option('--wait', 'wait for the result and print it')
  .option('--json', 'machine-readable output')
  .action(
    async (
      type: string,
      input: unknown,
      o: { id?: string; lane?: Lane; tenant?: string; delay?: string; ttl?: string; wait?: boolean; json?: boolean },
    ) =>
      withClient(async (c) => {
        const res = await c.submitEnvelope(
          {
            type,
            input,
            ...(o.lane ? { lane: o.lane } : {}),
            ...(o.tenant ? { tenant: o.tenant } : {}),
            ...(o.delay ? { delay: o.delay } : {}),
            ...(o.ttl ? { ttl: o.ttl } : {}),
          },
          o.id,
        );
        if (!o.wait) {
          if (o.json) printJson(res);
          else process.stdout.write(`${res.duplicate ? 'duplicate: ' : ''}${res.taskId} ${res.status}\n`);
          return;
        }
        if (!o.json) process.stdout.write(`${res.taskId} ${res.duplicate ? '(duplicate) ' : ''}submitted; waiting for the result...\n`);
        const result = await c.result(res.taskId);
        if (o.json) printJson({ ...res, result });
        else process.stdout.write(`${JSON.stringify(result)}\n`);
      }),
  );

program
  .command('get')
  .description("show a task's state (status, attempts, last error, result)")
  .argument('<taskId>')
  .option('--json', 'machine-readable output')
  .action(async (id: string, o: { json?: boolean }) =>
    withClient(async (c) => {
      const s = await c.get(id);
      if (o.json) return printJson(s);
      const rows = Object.entries({ ...s, timestamps: undefined, ...s.timestamps }).filter(([, v]) => v !== undefined);
      process.stdout.write(
        `${rows.map(([k, v]) => `${k.padEnd(12)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')}\n`,
      );
    }),
  );

program
  .command('list')
  .description('list tasks (newest first), filtered by search attributes')
  .option('--type <type>', 'task type')
  .option('--group <group>', 'service group')
  .addOption(new Option('--lane <lane>', 'lane').choices(LANES))
  .addOption(new Option('--status <status>', 'status').choices(TASK_STATUSES))
  .option('--tenant <tenant>', 'tenant')
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
      withClient(async (c) => {
        const filter = Object.fromEntries(
          Object.entries({ type: o.type, group: o.group, lane: o.lane, status: o.status, tenant: o.tenant }).filter(([, v]) => v),
        );
        const res = await c.list(filter, { pageSize: o.limit, ...(o.pageToken ? { pageToken: o.pageToken } : {}) });
        if (o.json) return printJson(res);
        process.stdout.write(
          `${table(res.tasks as unknown as Record<string, unknown>[], ['taskId', 'type', 'status', 'lane', 'tenant', 'startTime'])}\n`,
        );
        if (res.nextPageToken) process.stdout.write(`more: --page-token ${res.nextPageToken}\n`);
      }),
  );

program
  .command('cancel')
  .description('cancel a task (a running handler sees its AbortSignal fire)')
  .argument('<taskId>')
  .action(async (id: string) =>
    withClient(async (c) => {
      await c.cancel(id);
      process.stdout.write(`${id} cancel requested\n`);
    }),
  );

registerScalerCommands(program);

registerApiCommands(program);
registerVersionCommands(program);

program.parseAsync().catch((err: unknown) => {
  const e = err as { type?: string; message?: string; issues?: { path: string; message: string }[] };
  process.stderr.write(`error${e.type ? ` [${e.type}]` : ''}: ${e.message ?? String(err)}\n`);
  process.exit(1);
});
