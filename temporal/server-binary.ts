import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TidewayError } from '../config/errors';
import { buildOnce } from './build-once';
import { goInstall, goVersion, isExecutable, onPath } from './cli-binary';

/** The standalone Temporal server release the postgres profile builds (same server as the CLI 1.5.1 embeds). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const MODULES = [
  `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`,
  `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
] as const;

/** Thrown when the standalone server cannot be found or built. */
export class TemporalServerUnavailableError extends TidewayError {
  readonly type = 'TemporalServerUnavailableError';
}

export interface ServerBinaries {
  /** `server` (go.temporal.io/server/cmd/server). */
  server: string;
  /** `sql`, the schema tool (temporal-sql-tool). */
  sqlTool: string;
}

/**
 * Finds the standalone Temporal server and its SQL schema tool in `<cacheDir>/server-<version>/`,
 * building both once with `go install` (the Go module proxy is the only download). Concurrent
 * callers share one build through a lock folder, like the CLI build.
 */
export async function findOrBuildTemporalServer(opts: {
  cacheDir: string;
  searchPath: string;
  say?: (line: string) => void;
}): Promise<ServerBinaries> {
  const say = opts.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const binDir = join(opts.cacheDir, `server-${TEMPORAL_SERVER_VERSION}`);
  const bins: ServerBinaries = { server: join(binDir, 'server'), sqlTool: join(binDir, 'sql') };
  const ready = () => isExecutable(bins.server) && isExecutable(bins.sqlTool);
  if (ready()) return bins;
  const go = onPath('go', opts.searchPath);
  if (!go) {
    throw new TemporalServerUnavailableError(
      `The postgres profile needs the standalone Temporal server, built once with Go 1.24+ (not found on PATH). ` +
        `Install Go, or put prebuilt \`server\` and \`sql\` binaries (${MODULES.join(', ')}) in ${binDir}.`,
    );
  }
  mkdirSync(binDir, { recursive: true });
  return buildOnce({
    lock: join(opts.cacheDir, 'server-build.lock'),
    what: 'the Temporal server',
    giveUpMs: 30 * 60_000,
    fail: (message) => new TemporalServerUnavailableError(message),
    say,
    built: () => (ready() ? bins : undefined),
    build: async () => {
      const started = Date.now();
      say(`Building the Temporal server ${TEMPORAL_SERVER_VERSION} and its schema tool with ${goVersion(go)} into ${binDir}.`);
      say('This happens once per machine (about 4-10 minutes on 2 cores); later starts reuse it.');
      await goInstall(go, MODULES, binDir, say);
      if (!ready()) throw new TemporalServerUnavailableError(`go install finished but ${bins.server} or ${bins.sqlTool} is missing`);
      say(`Temporal server built in ${Math.round((Date.now() - started) / 1000)}s.`);
      return bins;
    },
  });
}
