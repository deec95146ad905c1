import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where Debian's `chromium` package puts the browser the dashboard test drives with playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Debian's `chromium` when it is missing, as the test setup builds the Temporal CLI: once
 * per machine, skipped when present. Needs apt-get and root (or password-less sudo); anywhere else
 * it says so and the dashboard test fails with the same message.
 */
export function ensureChromium(say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string | undefined {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true']).status === 0;
  if (!root && !sudo) {
    say(`chromium is missing at ${CHROMIUM} and this user cannot apt-get install it: the dashboard test will fail`);
    return undefined;
  }
  const run = (args: string[]) => {
    const [cmd, ...rest] = sudo ? ['sudo', '-n', ...args] : args;
    return spawnSync(cmd!, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  };
  say('Installing Debian chromium for the dashboard test (apt-get install -y chromium, once per machine)...');
  // A fresh machine may have no package lists yet: update only when the first try fails.
  if (!run(['apt-get', 'install', '-y', 'chromium'])) {
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', 'chromium']);
  }
  return existsSync(CHROMIUM) ? CHROMIUM : undefined;
}
