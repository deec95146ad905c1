import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../config/settings';
import { findOrBuildTemporalCli, startDevServer, type DevServer } from '../../temporal';
import { ensureChromium } from './chromium';

/**
 * Starts one real Temporal dev server (SQLite file, headless, free port) for the integration run,
 * or uses TEMPORAL_ADDRESS when the caller points at a running server. Exposes the address to test
 * files as TIDEWAY_TEST_TEMPORAL_ADDRESS. Installs Debian's chromium for the dashboard test when missing.
 */
export default async function globalSetup(): Promise<void> {
  // The dashboard test drives Debian's chromium; installed here once, like the Temporal CLI below.
  ensureChromium();
  const settings = loadSettings();
  if (settings.temporalAddress) {
    process.env.TIDEWAY_TEST_TEMPORAL_ADDRESS = settings.temporalAddress;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tideway-test-'));
  const cli = await findOrBuildTemporalCli({
    explicit: settings.temporalCli,
    cacheDir: settings.cacheDir,
    searchPath: settings.searchPath,
  });
  const server: DevServer = await startDevServer({ cli, dbFile: join(dir, 'temporal.db'), port: 0, headless: true, logDir: dir });
  process.env.TIDEWAY_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.TIDEWAY_TEST_TEMPORAL_CLI = cli;
  process.env.TIDEWAY_TEST_DIR = dir;
  (globalThis as { __tidewayServer?: DevServer }).__tidewayServer = server;
}
