import { Client, Connection } from '@temporalio/client';
import { loadProject, type Project } from '../config/load';
import { temporalAddressOf } from '../config/settings';
import { securityOptions } from '../temporal/connection';
import { dataConverterOf } from '../temporal/codec';

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

/** Runs `fn` with a raw Temporal connection and client for the project, closing it afterwards. */
export async function withTemporal<R>(fn: (c: { connection: Connection; client: Client; project: Project }) => Promise<R>): Promise<R> {
  const project = await cliProject();
  const connection = await Connection.connect({ address: temporalAddressOf(project.settings), ...securityOptions(project.settings) });
  try {
    return await fn({
      connection,
      client: new Client({ connection, namespace: project.settings.namespace, dataConverter: dataConverterOf(project.settings) }),
      project,
    });
  } finally {
    await connection.close();
  }
}
