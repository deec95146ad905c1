import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { HttpTaskClient } from '../api/http-client';
import { type TaskClient } from '../api/task-client';
import { LANES, TASK_STATUSES, type Lane, type TaskStatus } from '../config/names';
import { loadSettings } from '../config/settings';
import { ensureTemporal } from '../temporal';
import { runControl, runPool } from '../workers/run';
import { registerConfigCommands } from './commands/config';
import { runDev } from './dev';
import { cliProject, configOption, projectTaskClient, useConfig } from './project';
import { registerScalerCommands } from './commands/scaler';
import { registerApiCommands } from './commands/api';
import { registerVersionCommands } from './commands/versions';
import { printJson, table } from './format';

/** `tideway`: run Tideway locally and manage tasks from a terminal. */
const program = new Command()
  .name('tideway')
  .description('Durable tasks on Temporal: submit, inspect and manage tasks; run a local stack.')
  .showHelpAfterError('(run with --help for usage)')
  .option('-c, --config <file>', 'the project config module (default: TIDEWAY_CONFIG, else ./tideway.config.ts)')
  .hook('preAction', (cmd) => useConfig(cmd.opts<{ config?: string }>().config))
  .addHelpText(
    'after',
    `
Project:
  Every verb acts for one project: its tideway.config.ts names the catalog (task types), the
  handler modules per group and the settings. \`tideway config check\` shows what is in force.

Environment (each overrides the config file):
  TIDEWAY_CONFIG       the config module, like --config
  TEMPORAL_ADDRESS     use this Temporal server instead of starting a dev server (host:port)
  TEMPORAL_NAMESPACE   namespace (default "default")
  TEMPORAL_TLS_CERT/_KEY, TEMPORAL_API_KEY   mTLS files, or an API key for a hosted cluster
  TIDEWAY_APP          app name in every queue (several projects on one namespace)
  TIDEWAY_DATA_DIR     where the dev server keeps its SQLite file and logs (default .tideway)
  TIDEWAY_URL, TIDEWAY_API_KEY   act over the HTTP API instead of Temporal directly

Examples:
  npx tideway dev
  npx tideway config check
  npx tideway types
  npx tideway submit media.thumbnail '{"url":"https://example.com/a.png"}' --wait
  npx tideway submit media.thumbnail '{"url":"..."}' --id thumb-42 --lane high
  npx tideway list --status running
  npx tideway get thumb-42`,
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
  const client = await projectTaskClient(await cliProject());
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

program
  .command('dev')
  .description("start the Temporal dev server (or use TEMPORAL_ADDRESS), the project's control worker, scaler, pools and HTTP API")
  .option('--no-pools', 'run neither the scaler nor any pool process (tasks queue up until pools run)')
  .action(async (o: { pools: boolean }) => runDev({ pools: o.pools, ...(configOption() ? { config: configOption() } : {}) }));

program
  .command('worker')
  .description("run one worker process of the project: the control worker, or a pool (loads only that group's handlers)")
  .argument('<role>', 'control | pool')
  .argument('[group]', 'pool only: the service group')
  .addArgument(new Argument('[lane]', 'pool only: the lane').choices(LANES))
  .addHelpText('after', '\nExamples:\n  npx tideway worker control\n  npx tideway worker pool media normal')
  .action(async (role: string, group: string | undefined, lane: Lane | undefined) => {
    const project = await cliProject();
    if (role === 'control') return runControl(project);
    if (role === 'pool' && group && lane) return runPool(project, group, lane);
    throw new InvalidArgumentError(
      `use \`worker control\` or \`worker pool <group> <lane>\`; groups: ${project.catalog.groups.join(', ')}`,
    );
  });

program
  .command('temporal')
  .description("only start the Temporal dev server with Tideway's search attributes (building the CLI if needed)")
  .action(async () => {
    const t = await ensureTemporal(await temporalSettings(), (l) => process.stdout.write(`${l}\n`));
    process.stdout.write(`Temporal at ${t.address}${t.uiUrl ? `, Web UI ${t.uiUrl}` : ''}. Ctrl-C to stop.\n`);
    const stop = () => void t.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

program
  .command('types')
  .description("list the task types in the project's catalog")
  .option('--json', 'machine-readable output')
  .action(async (o: { json?: boolean }) => {
    const { catalog } = await cliProject();
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
registerConfigCommands(program);

registerApiCommands(program);
registerVersionCommands(program);

/** `tideway temporal` needs no catalog: the settings come from the config when there is one, else the environment. */
async function temporalSettings() {
  try {
    return (await cliProject()).settings;
  } catch (err) {
    if ((err as { type?: string }).type !== 'ConfigError' || configOption()) throw err;
    return loadSettings();
  }
}

program.parseAsync().catch((err: unknown) => {
  const e = err as { type?: string; message?: string; issues?: { path: string; message: string }[] };
  process.stderr.write(`error${e.type ? ` [${e.type}]` : ''}: ${e.message ?? String(err)}\n`);
  process.exit(1);
});
