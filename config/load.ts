import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createJiti } from 'jiti';
import type { Catalog } from './catalog-schema';
import { ConfigError, HandlerModuleError } from './errors';
import { configEnv, parseConfig, type TidewayConfig } from './project';
import type { RegisteredTasks } from './register';
import { loadSettings, type Settings } from './settings';
import { isBatchHandler, type AnyTaskDefinition, type GroupHandler, type TaskHandler } from './task';

/** Names `tideway` looks for in the working folder when neither `--config` nor TIDEWAY_CONFIG names a file. */
export const CONFIG_FILE_NAMES = [
  'tideway.config.ts',
  'tideway.config.mts',
  'tideway.config.cts',
  'tideway.config.js',
  'tideway.config.mjs',
  'tideway.config.cjs',
] as const;

/** A loaded project: its config module, the catalog on its app's queues, and the effective settings. */
export interface Project<T extends readonly AnyTaskDefinition[] = RegisteredTasks> {
  /** Absolute path of the config module; child processes get it as TIDEWAY_CONFIG. */
  readonly file: string;
  readonly config: TidewayConfig;
  readonly catalog: Catalog<T>;
  /** The config's values under the real environment: what child processes are started with. */
  readonly env: NodeJS.ProcessEnv;
  /** Every setting, compiled once from `env` (config/settings.ts): what the project's code reads. */
  readonly settings: Settings;
  /** Loads one group's handlers (inline ones and its handler module), checked against the catalog. */
  handlersFor(group: string): Promise<Map<string, GroupHandler>>;
}

export interface LoadProjectOptions {
  /** Config module path (`--config`); else TIDEWAY_CONFIG; else tideway.config.* in `cwd`. */
  config?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default process.cwd() */
  cwd?: string;
}

/** Finds the config module to load, or throws ConfigError saying how to make one. */
export function findConfigFile(opts: LoadProjectOptions = {}): string {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const named = opts.config ?? env.TIDEWAY_CONFIG;
  if (named) {
    const file = isAbsolute(named) ? named : resolve(cwd, named);
    if (!existsSync(file))
      throw new ConfigError(`config file ${file} does not exist (from ${opts.config ? '--config' : 'TIDEWAY_CONFIG'})`);
    return file;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new ConfigError(
    `no tideway.config.ts in ${cwd}. Create one that exports defineConfig({ catalog }) (see the README's quick start), ` +
      'or name it with --config <file> or TIDEWAY_CONFIG.',
  );
}

// One loader per process. It compiles TypeScript on the fly (and the `import()`s of handler modules
// inside the config), sharing Node's module cache so Tideway's own modules load once.
let jiti: ReturnType<typeof createJiti> | undefined;
async function importModule(file: string): Promise<unknown> {
  jiti ??= createJiti(__filename, { interopDefault: true, moduleCache: true });
  return jiti.import(file, { default: true });
}

/** Loads and validates a project's config module; a bad field fails the process at start, named. */
export async function loadProject<T extends readonly AnyTaskDefinition[] = RegisteredTasks>(
  opts: LoadProjectOptions = {},
): Promise<Project<T>> {
  const file = findConfigFile(opts);
  let exported: unknown;
  try {
    exported = await importModule(file);
  } catch (err) {
    throw new ConfigError(`could not load ${file}: ${err instanceof Error ? err.message : String(err)}`, [], { cause: err });
  }
  return projectFrom<T>(exported, file, opts.env ?? process.env);
}

/** Builds a Project from a config module's export (exported for tests and programmatic use). */
export function projectFrom<T extends readonly AnyTaskDefinition[] = RegisteredTasks>(
  exported: unknown,
  file: string,
  realEnv: NodeJS.ProcessEnv = process.env,
): Project<T> {
  const config = parseConfig(exported, file);
  const dir = dirname(file);
  const env: NodeJS.ProcessEnv = { ...configEnv(config, (p) => resolve(dir, p)), ...realEnv, TIDEWAY_CONFIG: file };
  let settings: Settings;
  try {
    settings = loadSettings(env);
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n(from ${file} and the environment)`);
  }
  const base = config.catalog as unknown as Catalog<T>;
  const app = settings.app ?? base.app;
  const catalog = app === base.app ? base : base.withApp(app);
  checkHandlerCoverage(config, catalog, file);
  return {
    file,
    config,
    catalog,
    env,
    settings,
    handlersFor: (group) => loadGroupHandlers(config, catalog, group),
  };
}

/** Every task type has a handler somewhere: inline, or its group's handler module. */
function checkHandlerCoverage(config: TidewayConfig, catalog: Catalog, file: string): void {
  const issues = [];
  for (const g of Object.keys(config.handlers ?? {})) {
    if (!catalog.groups.includes(g))
      issues.push({ path: `handlers.${g}`, message: `no task type belongs to group ${g}; groups: ${catalog.groups.join(', ')}` });
  }
  for (const t of catalog.byName.values()) {
    if (!t.def.handler && !config.handlers?.[t.group]) {
      issues.push({
        path: `handlers.${t.group}`,
        message: `task type ${t.name} has no inline handler, so group ${t.group} needs a handler module: handlers: { '${t.group}': () => import('./handlers/${t.group}') }`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(`invalid config in ${file}:`, issues);
}

async function loadGroupHandlers(config: TidewayConfig, catalog: Catalog, group: string): Promise<Map<string, GroupHandler>> {
  const tasks = [...catalog.byName.values()].filter((t) => t.group === group);
  if (tasks.length === 0)
    throw new HandlerModuleError(group, `no task type belongs to group ${group}; groups: ${catalog.groups.join(', ')}`);
  const out = new Map<string, GroupHandler>();
  for (const t of tasks) if (t.def.handler) out.set(t.name, t.def.handler as TaskHandler<unknown, unknown>);
  const loader = config.handlers?.[group];
  if (loader) {
    let mod: unknown;
    try {
      mod = await loader();
    } catch (err) {
      throw new HandlerModuleError(
        group,
        `the handler module of group ${group} failed to load: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      );
    }
    const m = (mod ?? {}) as Record<string, unknown>;
    // `export default defineHandlers(...)`, `export const handlers = ...`, or named exports.
    const record = (m.default ?? m.handlers ?? m) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(record)) {
      if (name === '__esModule' || name === 'default') continue;
      const task = catalog.get(name);
      if (!task)
        throw new HandlerModuleError(group, `the handler module of group ${group} exports ${name}, which is no task type of the catalog`);
      if (task.group !== group) {
        throw new HandlerModuleError(group, `the handler module of group ${group} exports ${name}, which belongs to group ${task.group}`);
      }
      if (task.batch) {
        if (!isBatchHandler(fn)) {
          throw new HandlerModuleError(
            group,
            `the handler module of group ${group} exports ${name}, a batch type, as something other than { split, shard, reduce } (defineBatchHandler)`,
          );
        }
      } else if (typeof fn !== 'function')
        throw new HandlerModuleError(group, `the handler module of group ${group} exports ${name} as a ${typeof fn}, not a function`);
      if (out.has(name))
        throw new HandlerModuleError(group, `${name} has an inline handler and one in the handler module of group ${group}; keep one`);
      out.set(name, fn as GroupHandler);
    }
  }
  const missing = tasks.filter((t) => !out.has(t.name)).map((t) => t.name);
  if (missing.length > 0) {
    throw new HandlerModuleError(
      group,
      `no handler for ${missing.join(', ')}: export ${missing.length > 1 ? 'them' : 'it'} from the handler module of group ${group}`,
    );
  }
  return out;
}
