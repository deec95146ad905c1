import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../config/settings';
import { findOrBuildTemporalCli, startDevServer, startPostgresProfile } from '../../temporal';
import { ensureChromium } from './chromium';

/** What global-teardown stops. */
export interface TestServer {
  stop(): Promise<void>;
}

/**
 * Starts one real Temporal server for the integration run, or uses TEMPORAL_ADDRESS when the caller
 * points at a running server. Exposes the address to test files as TIDEWAY_TEST_TEMPORAL_ADDRESS.
 * TIDEWAY_TEST_PROFILE picks the server: `dev` (default; the CLI dev server, SQLite, headless) or
 * `postgres` (`npm run test:cluster`: the standalone server on PostgreSQL, TIDEWAY_TEST_SHARDS shards,
 * default 4; TIDEWAY_TEST_SPLIT_SERVICES=1 runs its services as four processes). The Temporal CLI is
 * found or built either way: some tests use it as a plain client. Installs Debian's chromium for the
 * dashboard test when missing.
 */
export default async function globalSetup(): Promise<void> {
  // The dashboard test drives Debian's chromium; installed here once, like the Temporal CLI below.
  ensureChromium();
  const settings = loadSettings();
  if (settings.temporalAddress) {
    process.env.TIDEWAY_TEST_TEMPORAL_ADDRESS = settings.temporalAddress;
    return;
  }
  const profile = process.env.TIDEWAY_TEST_PROFILE ?? 'dev';
  if (profile !== 'dev' && profile !== 'postgres') throw new Error(`TIDEWAY_TEST_PROFILE must be dev or postgres, not ${profile}`);
  const dir = mkdtempSync(join(tmpdir(), 'tideway-test-'));
  const cli = await findOrBuildTemporalCli({
    explicit: settings.temporalCli,
    cacheDir: settings.cacheDir,
    searchPath: settings.searchPath,
  });
  let server: TestServer & { address: string };
  if (profile === 'postgres') {
    server = await startPostgresProfile(
      {
        dataDir: dir,
        cacheDir: settings.cacheDir,
        searchPath: settings.searchPath,
        port: 0,
        shards: Number(process.env.TIDEWAY_TEST_SHARDS ?? 4),
        splitServices: process.env.TIDEWAY_TEST_SPLIT_SERVICES === '1',
      },
      (line) => process.stderr.write(`${line}\n`),
    );
  } else {
    server = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
  }
  process.env.TIDEWAY_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.TIDEWAY_TEST_TEMPORAL_CLI = cli;
  process.env.TIDEWAY_TEST_DIR = dir;
  process.env.TIDEWAY_TEST_PROFILE = profile;
  (globalThis as { __tidewayServer?: TestServer }).__tidewayServer = server;
}
