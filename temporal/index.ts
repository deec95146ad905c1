import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import type { Settings } from '../config/settings';
import { findOrBuildTemporalCli } from './cli-binary';
import { connectWithRetry, ensureSearchAttributes } from './connection';
import { startDevServer } from './dev-server';

export { findOrBuildTemporalCli, TemporalCliUnavailableError } from './cli-binary';
export { connectWithRetry, clientFor, ensureSearchAttributes } from './connection';
export { findOrBuildTemporalServer, TemporalServerUnavailableError, TEMPORAL_SERVER_VERSION } from './server-binary';
export {
  startPostgresProfile,
  PostgresProfileError,
  POSTGRES_PROFILE_DYNAMIC_CONFIG,
  type PostgresProfile,
  type PostgresProfileOptions,
} from './postgres-profile';
export { startDevServer, freePort, DEV_SERVER_DYNAMIC_CONFIG, type DevServer } from './dev-server';

/** The Temporal server a Tideway process talks to, whether it started it or found it. */
export interface TemporalTarget {
  address: string;
  namespace: string;
  uiUrl: string | undefined;
  /** True when Tideway started the server (and `stop` ends it). */
  started: boolean;
  logFile: string | undefined;
  connection: Connection;
  stop(): Promise<void>;
}

/**
 * Uses TEMPORAL_ADDRESS when set (checks it answers, registers search attributes); otherwise finds
 * or builds the Temporal CLI and starts a SQLite-backed dev server under the data folder.
 */
export async function ensureTemporal(settings: Settings, say?: (line: string) => void): Promise<TemporalTarget> {
  if (settings.temporalAddress) {
    const connection = await connectWithRetry(settings.temporalAddress, 15_000, settings);
    await ensureSearchAttributes(connection, settings.namespace);
    return {
      address: settings.temporalAddress,
      namespace: settings.namespace,
      uiUrl: undefined,
      started: false,
      logFile: undefined,
      connection,
      stop: () => connection.close(),
    };
  }
  const cli = await findOrBuildTemporalCli({
    explicit: settings.temporalCli,
    cacheDir: settings.cacheDir,
    searchPath: settings.searchPath,
    ...(say ? { say } : {}),
  });
  const server = await startDevServer({
    cli,
    dbFile: join(settings.dataDir, 'temporal.db'),
    port: settings.temporalPort,
    uiPort: settings.uiPort,
    headless: settings.headless,
    namespace: settings.namespace,
    logDir: settings.dataDir,
  });
  return {
    address: server.address,
    namespace: settings.namespace,
    uiUrl: server.uiUrl,
    started: true,
    logFile: server.logFile,
    connection: server.connection,
    stop: () => server.stop(),
  };
}
