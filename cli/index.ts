import { Argument, Command, InvalidArgumentError } from 'commander';
import { LANES, type Lane } from '../config/names';
import { effectiveDelaysMs, type CompiledRetry } from '../config/retry';
import { loadSettings } from '../config/settings';
import { z } from 'zod';
import { ensureTemporal, startPostgresProfile } from '../temporal';
import { runControl, runPool } from '../workers/run';
import { registerConfigCommands } from './commands/config';
import { runDev } from './dev';
import { inputJsonSchema, inputShape } from './input-shape';
import { cliProject, configOption, useConfig } from './project';
import { registerScalerCommands } from './commands/scaler';
import { registerApiCommands } from './commands/api';
import { registerTaskCommands } from './commands/tasks';
import { registerLogsCommand } from './commands/logs';
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

Modes:
  The task verbs (submit, get, list, cancel, pause, resume, redrive, discard, bulk, batch, schedules,
  pools) take the same arguments and print the same output in both modes. With TIDEWAY_URL they call
  the HTTP API as the API key's tenant; without it they run the API's own code directly over Temporal
  as --tenant (default "default"). Only direct mode sees the catalog's schedules ("tideway.*").

Examples:
  npx tideway dev
  npx tideway config check
  npx tideway types
  npx tideway submit media.thumbnail '{"url":"https://example.com/a.png"}' --wait
  npx tideway submit media.thumbnail '{"url":"..."}' --id thumb-42 --lane high
  npx tideway list --status running
  npx tideway get thumb-42`,
  );

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
  .description(
    "only start Temporal with Tideway's search attributes: the dev server (building the CLI if needed), or with --profile postgres a production-shaped server on PostgreSQL",
  )
  .option('--profile <profile>', 'dev (the CLI dev server, SQLite) | postgres (standalone server, PostgreSQL, N shards)', 'dev')
  .option('--shards <n>', 'postgres profile: history shards', '4')
  .option('--split-services', 'postgres profile: run frontend, history, matching and worker as four processes')
  .addHelpText(
    'after',
    '\nThe postgres profile installs PostgreSQL with apt-get when missing, builds the Temporal server once into the\n' +
      'cache folder, and keeps everything in a throwaway folder under TIDEWAY_DATA_DIR that Ctrl-C removes.',
  )
  .action(async (raw: { profile: string; shards: string; splitServices?: boolean }) => {
    const o = TemporalCommandOptions.parse(raw);
    const say = (l: string) => process.stdout.write(`${l}\n`);
    const settings = await temporalSettings();
    if (o.profile === 'postgres') {
      const p = await startPostgresProfile(
        {
          dataDir: settings.dataDir,
          cacheDir: settings.cacheDir,
          searchPath: settings.searchPath,
          shards: o.shards,
          splitServices: o.splitServices,
          port: settings.temporalPort,
          namespace: settings.namespace,
        },
        say,
      );
      say(`Temporal (standalone server, ${p.shards} history shards) at ${p.address}, namespace ${p.namespace}.`);
      say(`PostgreSQL at 127.0.0.1:${p.postgresPort} (user postgres, databases temporal and temporal_visibility).`);
      say(`Data folder (removed on stop): ${p.folder}`);
      for (const proc of p.processes) say(`  ${proc.service} pid ${proc.pid}, log ${proc.logFile}`);
      say('No Web UI: the standalone server does not serve one (the dev profile does). Ctrl-C to stop.');
      say(`Point Tideway at it with TEMPORAL_ADDRESS=${p.address}.`);
      onStop(() => p.stop());
      return;
    }
    const t = await ensureTemporal(settings, say);
    say(`Temporal at ${t.address}${t.uiUrl ? `, Web UI ${t.uiUrl}` : ''}. Ctrl-C to stop.`);
    onStop(() => t.stop());
  });

/** `tideway temporal`'s flags. */
const TemporalCommandOptions = z.object({
  profile: z.enum(['dev', 'postgres']),
  shards: z.coerce.number().int().min(1).max(16_384),
  splitServices: z.boolean().default(false),
});

function onStop(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    void stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

program
  .command('types')
  .description("list the task types in the project's catalog, with the input each one takes")
  .option('--json', 'machine-readable output (each input as JSON Schema)')
  .action(async (o: { json?: boolean }) => {
    const { catalog } = await cliProject();
    const types = [...catalog.byName.values()].map((t) => ({ t, schema: inputJsonSchema(t.def.input) }));
    if (o.json) {
      return printJson(
        types.map(({ t, schema }) => ({
          type: t.name,
          group: t.group,
          lane: t.lane,
          maxAttempts: t.retry.maxAttempts,
          // What the server waits before retries 1..4 (a sub-second delay runs after ~1 s).
          retryDelaysMs: {
            retryable: effectiveDelaysMs(t.compiledRetry.retryable, Math.min(4, t.retry.maxAttempts - 1)),
            throttled: effectiveDelaysMs(t.compiledRetry.throttled, Math.min(4, t.retry.maxAttempts - 1)),
          },
          warnings: catalog.warnings.filter((w) => w.path.startsWith(`tasks.${t.name}.`)).map((w) => w.message),
          description: t.def.description,
          input: schema ?? null,
        })),
      );
    }
    const rows = types.map(({ t, schema }) => ({
      type: t.name,
      group: t.group,
      lane: t.lane,
      maxAttempts: t.retry.maxAttempts,
      retries: retryShape(t.compiledRetry.retryable, t.retry.maxAttempts),
      input: inputShape(schema),
      description: t.def.description,
    }));
    process.stdout.write(`${table(rows)}\n`);
    // Said after the table: the delays above are what Temporal waits, not always what was written.
    for (const w of catalog.warnings) process.stdout.write(`note: ${w.path}: ${w.message}\n`);
  });

/** "1s 1s 1s 1.6s": the delays Temporal waits before the first retries of ordinary failures. */
function retryShape(b: CompiledRetry['retryable'], maxAttempts: number): string {
  const d = effectiveDelaysMs(b, Math.min(4, maxAttempts - 1));
  return d.length === 0 ? '-' : `~${d.map((ms) => `${Number((ms / 1000).toFixed(2))}s`).join(' ')}`;
}

registerTaskCommands(program);
registerLogsCommand(program);
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
