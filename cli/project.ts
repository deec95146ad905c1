import { Client, Connection } from '@temporalio/client';
import { loadProject, type Project } from '../config/load';
import { TaskClient } from '../api/task-client';
import { securityOptions } from '../temporal/connection';

/**
 * The project every `tideway` verb acts for: `--config <file>` (set once by the program's hook),
 * else TIDEWAY_CONFIG, else tideway.config.* in the working folder. Loaded once per command.
 */
let configPath: string | undefined;
let loaded: Promise<Project> | undefined;

/** Called by the program before any action with the global `--config`. */
export function useConfig(path: string | undefined): void {
  configPath = path;
  loaded = undefined;
}

/** The `--config` path as given (undefined when none was). */
export function configOption(): string | undefined {
  return configPath;
}

export function cliProject(): Promise<Project> {
  loaded ??= loadProject(configPath ? { config: configPath } : {});
  return loaded;
}

/** The Temporal address the project's settings name (the dev server's port when none). */
export function addressOf(p: Project): string {
  return p.settings.temporalAddress ?? `127.0.0.1:${p.settings.temporalPort}`;
}

/** A TaskClient for the project (direct mode), with its TLS, API key and lane budgets. */
export async function projectTaskClient(p: Project): Promise<TaskClient> {
  return TaskClient.connect({
    catalog: p.catalog,
    address: addressOf(p),
    namespace: p.settings.namespace,
    connection: securityOptions(p.settings),
    admission: p.settings.admission ?? {},
  });
}

/** Runs `fn` with a raw Temporal connection and client for the project, closing it afterwards. */
export async function withTemporal<R>(fn: (c: { connection: Connection; client: Client; project: Project }) => Promise<R>): Promise<R> {
  const project = await cliProject();
  const connection = await Connection.connect({ address: addressOf(project), ...securityOptions(project.settings) });
  try {
    return await fn({ connection, client: new Client({ connection, namespace: project.settings.namespace }), project });
  } finally {
    await connection.close();
  }
}
