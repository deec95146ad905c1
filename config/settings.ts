import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Process settings read from the environment, validated once with defaults in one place.
 * Every entry point calls `loadSettings()`; a bad value fails at start naming the variable.
 */
const portSchema = z.coerce.number().int().min(1).max(65535);

const settingsSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_CLI: z.string().min(1).optional(),
  TIDEWAY_TEMPORAL_PORT: portSchema.default(7233),
  TIDEWAY_UI_PORT: portSchema.default(8233),
  TIDEWAY_HEADLESS: z.enum(['0', '1', 'true', 'false']).optional(),
  TIDEWAY_DATA_DIR: z.string().min(1).default('.tideway'),
  TIDEWAY_CACHE_DIR: z.string().min(1).optional(),
  TIDEWAY_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export interface Settings {
  /** Existing server to use; when unset Tideway starts a dev server. */
  temporalAddress: string | undefined;
  namespace: string;
  /** Explicit Temporal CLI binary. */
  temporalCli: string | undefined;
  temporalPort: number;
  uiPort: number;
  headless: boolean;
  /** Where the dev server's SQLite file and logs live. */
  dataDir: string;
  /** Where a built Temporal CLI is cached across clones. */
  cacheDir: string;
  logLevel: string;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`invalid environment:\n${lines}`);
  }
  const e = parsed.data;
  const xdg = env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'tideway') : join(homedir(), '.cache', 'tideway');
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    temporalCli: e.TEMPORAL_CLI,
    temporalPort: e.TIDEWAY_TEMPORAL_PORT,
    uiPort: e.TIDEWAY_UI_PORT,
    headless: e.TIDEWAY_HEADLESS === '1' || e.TIDEWAY_HEADLESS === 'true',
    dataDir: resolve(e.TIDEWAY_DATA_DIR),
    cacheDir: resolve(e.TIDEWAY_CACHE_DIR ?? xdg),
    logLevel: e.TIDEWAY_LOG_LEVEL,
  };
}
