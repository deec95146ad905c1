import { mkdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BuildOnceOptions<T> {
  /** A folder whose creation is the lock (mkdir is atomic; the holder removes it when done). */
  lock: string;
  /** What was built, if it is there already (checked before, while waiting, and under the lock). */
  built: () => T | undefined;
  /** Builds it; called by one caller at a time. */
  build: () => Promise<T>;
  /** For people: "the Temporal CLI". */
  what: string;
  /** How long a caller waits for another's build before giving up. */
  giveUpMs: number;
  /** The error a caller that gave up throws (each binary has its own error class). */
  fail: (message: string) => Error;
  say: (line: string) => void;
  /** How often a waiting caller looks again (tests shorten it). */
  pollMs?: number;
}

/**
 * Builds something at most once across concurrent callers (parallel test files, `npm start` beside
 * `npm test`): the first takes the lock folder and builds, the others wait until the result is
 * there. A lock left by a killed build is not broken automatically; the message names it.
 */
export async function buildOnce<T>(opts: BuildOnceOptions<T>): Promise<T> {
  const ready = opts.built();
  if (ready !== undefined) return ready;
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(opts.lock);
      break;
    } catch {
      const done = opts.built();
      if (done !== undefined) return done;
      if (Date.now() - started > opts.giveUpMs) {
        throw opts.fail(`gave up waiting for the build lock ${opts.lock} (remove it if no build of ${opts.what} is running)`);
      }
      if (Date.now() - started < 1_000) opts.say(`Another process is building ${opts.what}; waiting (lock ${opts.lock})...`);
      await sleep(opts.pollMs ?? 2_000);
    }
  }
  try {
    return opts.built() ?? (await opts.build());
  } finally {
    rmSync(opts.lock, { recursive: true, force: true });
  }
}
