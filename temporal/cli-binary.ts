import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TidewayError } from '../config/errors';
import { buildOnce } from './build-once';

/** The Temporal CLI release Tideway builds when none is found. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/** Thrown by `findOrBuildTemporalCli` when no CLI can be found or built. */
export class TemporalCliUnavailableError extends TidewayError {
  readonly type = 'TemporalCliUnavailableError';
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function onPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export interface FindCliOptions {
  /** TEMPORAL_CLI: an explicit binary. */
  explicit?: string | undefined;
  /** Cache folder; the built binary lands in `<cacheDir>/bin/temporal`. */
  cacheDir: string;
  /** PATH (settings.searchPath): where `temporal` and `go` are looked for. */
  searchPath: string;
  /** Progress output for people (the build takes minutes the first time). */
  say?: (line: string) => void;
}

/**
 * Finds a Temporal CLI: TEMPORAL_CLI → `temporal` on PATH → the cached build → builds it once
 * with `go install` into the cache. Concurrent callers (parallel test workers, `npm start` beside
 * `npm test`) share one build through a lock folder.
 */
export async function findOrBuildTemporalCli(opts: FindCliOptions): Promise<string> {
  const say = opts.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (opts.explicit) {
    if (!isExecutable(opts.explicit)) throw new TemporalCliUnavailableError(`TEMPORAL_CLI=${opts.explicit} is not an executable file`);
    return opts.explicit;
  }
  const fromPath = onPath('temporal', opts.searchPath);
  if (fromPath) return fromPath;
  const binDir = join(opts.cacheDir, 'bin');
  const cached = join(binDir, 'temporal');
  if (isExecutable(cached)) return cached;

  const go = onPath('go', opts.searchPath);
  if (!go) {
    throw new TemporalCliUnavailableError(
      [
        'No Temporal CLI found and Go is not installed to build one. Either:',
        '  - install the Temporal CLI (`brew install temporal`, or the archive from the Temporal CLI releases page) and put `temporal` on PATH,',
        '  - set TEMPORAL_CLI=/path/to/temporal,',
        '  - install Go 1.24+ so Tideway can build it once, or',
        '  - set TEMPORAL_ADDRESS=host:7233 to use a Temporal server that is already running.',
      ].join('\n'),
    );
  }

  mkdirSync(binDir, { recursive: true });
  return buildOnce({
    lock: join(opts.cacheDir, 'build.lock'),
    what: 'the Temporal CLI',
    giveUpMs: 20 * 60_000,
    fail: (message) => new TemporalCliUnavailableError(message),
    say,
    built: () => (isExecutable(cached) ? cached : undefined),
    build: async () => {
      const started = Date.now();
      say(`Building the Temporal CLI (${TEMPORAL_CLI_MODULE}) with ${goVersion(go)} into ${binDir}.`);
      say('This happens once per machine and takes about 4-8 minutes on 2 cores; later starts reuse it.');
      await goInstall(go, [TEMPORAL_CLI_MODULE], binDir, say);
      if (!isExecutable(cached)) throw new TemporalCliUnavailableError(`go install finished but ${cached} is missing`);
      say(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)}s: ${cached}`);
      return cached;
    },
  });
}

export function goVersion(go: string): string {
  const r = spawnSync(go, ['version'], { encoding: 'utf8' });
  return (r.stdout || 'go').trim();
}

/** `go install <modules>` into binDir, with progress every 30 s; failures are TemporalCliUnavailableError. */
export function goInstall(go: string, modules: readonly string[], binDir: string, say: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    // The build inherits Go's own environment (GOPATH, GOPROXY, proxies), plus where to put the binary.
    // eslint-disable-next-line no-restricted-properties -- passing the environment on to a child process
    const env = process.env;
    const child = spawn(go, ['install', ...modules], {
      env: { ...env, GOBIN: binDir, GOFLAGS: [env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' ') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    let downloads = 0;
    const onData = (b: Buffer) => {
      const text = b.toString();
      tail = (tail + text).slice(-4000);
      downloads += (text.match(/go: downloading/g) ?? []).length;
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const ticker = setInterval(() => say(`  ...still building (${downloads} modules downloaded so far)`), 30_000);
    child.on('error', (err) => {
      clearInterval(ticker);
      reject(new TemporalCliUnavailableError(`could not run go: ${err.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else
        reject(
          new TemporalCliUnavailableError(
            `go install ${modules.join(' ')} failed (exit ${code}). Last output:\n${tail}\n` +
              'Set TEMPORAL_CLI to a Temporal CLI binary or TEMPORAL_ADDRESS to a running server.',
          ),
        );
    });
  });
}
