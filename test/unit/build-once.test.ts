import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildOnce, type BuildOnceOptions } from '../../temporal/build-once';

class BuildLockError extends Error {}

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-build-once-'));
  const artifact = join(dir, 'binary');
  const lock = join(dir, 'build.lock');
  let builds = 0;
  const lines: string[] = [];
  const opts = (over: Partial<BuildOnceOptions<string>> = {}): BuildOnceOptions<string> => ({
    lock,
    what: 'the test binary',
    giveUpMs: 5_000,
    pollMs: 20,
    fail: (m) => new BuildLockError(m),
    say: (l) => lines.push(l),
    built: () => (existsSync(artifact) ? artifact : undefined),
    build: async () => {
      builds++;
      await sleep(150);
      writeFileSync(artifact, 'x');
      return artifact;
    },
    ...over,
  });
  return { artifact, lock, opts, lines, builds: () => builds };
}

test('concurrent callers share one build and all get its result; the lock is gone after', async () => {
  const f = fixture();
  const results = await Promise.all([buildOnce(f.opts()), buildOnce(f.opts()), buildOnce(f.opts())]);
  expect(results).toEqual([f.artifact, f.artifact, f.artifact]);
  expect(f.builds()).toBe(1);
  expect(existsSync(f.lock)).toBe(false);
  expect(f.lines.some((l) => l.startsWith('Another process is building the test binary'))).toBe(true);
});

test('a finished build is reused without taking the lock', async () => {
  const f = fixture();
  writeFileSync(f.artifact, 'x');
  mkdirSync(f.lock); // even a stale lock does not matter then
  await expect(buildOnce(f.opts())).resolves.toBe(f.artifact);
  expect(f.builds()).toBe(0);
});

test('a failed build releases the lock, so the next caller builds again', async () => {
  const f = fixture();
  await expect(buildOnce(f.opts({ build: () => Promise.reject(new Error('go install failed')) }))).rejects.toThrow('go install failed');
  expect(existsSync(f.lock)).toBe(false);
  await expect(buildOnce(f.opts())).resolves.toBe(f.artifact);
  expect(f.builds()).toBe(1);
});

test('a lock nobody releases makes the caller give up with its error class, naming the lock', async () => {
  const f = fixture();
  mkdirSync(f.lock);
  const err = await buildOnce(f.opts({ giveUpMs: 100 })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BuildLockError);
  expect((err as Error).message).toContain(f.lock);
  expect(f.builds()).toBe(0);
});
