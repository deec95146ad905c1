import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { APP_NAME } from './names';

/**
 * Process settings read from the environment, validated once with defaults in one place.
 * Every entry point calls `loadSettings()`; a bad value fails at start naming the variable.
 */
const portSchema = z.coerce.number().int().min(1).max(65535);

const flag = z.enum(['0', '1', 'true', 'false']).optional();
const settingsSchema = z.object({
  TIDEWAY_APP: z.string().regex(APP_NAME, 'use 1-40 lowercase letters, digits and dashes, starting with a letter').optional(),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_TLS: flag,
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_CLI: z.string().min(1).optional(),
  TIDEWAY_TEMPORAL_PORT: portSchema.default(7233),
  TIDEWAY_UI_PORT: portSchema.default(8233),
  TIDEWAY_HEADLESS: flag,
  TIDEWAY_DATA_DIR: z.string().min(1).default('.tideway'),
  TIDEWAY_CACHE_DIR: z.string().min(1).optional(),
  TIDEWAY_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

/** How to reach Temporal beyond its address: TLS (mTLS files) and an API key for a hosted cluster. */
export interface TemporalSecurity {
  tls: boolean;
  /** Paths of the client certificate and key (mTLS). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Path of a CA bundle to verify the server with. */
  tlsCa: string | undefined;
  tlsServerName: string | undefined;
  apiKey: string | undefined;
}

export interface Settings extends TemporalSecurity {
  /** The app name in every queue (several projects on one namespace); undefined = none. */
  app: string | undefined;
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
  if ((e.TEMPORAL_TLS_CERT === undefined) !== (e.TEMPORAL_TLS_KEY === undefined)) {
    throw new Error('invalid environment:\n  TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS needs both)');
  }
  const xdg = env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'tideway') : join(homedir(), '.cache', 'tideway');
  const on = (v: string | undefined) => v === '1' || v === 'true';
  return {
    app: e.TIDEWAY_APP,
    temporalAddress: e.TEMPORAL_ADDRESS,
    // A client certificate or an API key means TLS; TEMPORAL_TLS=1 asks for it with neither.
    tls: on(e.TEMPORAL_TLS) || e.TEMPORAL_TLS_CERT !== undefined || e.TEMPORAL_API_KEY !== undefined,
    tlsCert: e.TEMPORAL_TLS_CERT,
    tlsKey: e.TEMPORAL_TLS_KEY,
    tlsCa: e.TEMPORAL_TLS_CA,
    tlsServerName: e.TEMPORAL_TLS_SERVER_NAME,
    apiKey: e.TEMPORAL_API_KEY,
    namespace: e.TEMPORAL_NAMESPACE,
    temporalCli: e.TEMPORAL_CLI,
    temporalPort: e.TIDEWAY_TEMPORAL_PORT,
    uiPort: e.TIDEWAY_UI_PORT,
    headless: on(e.TIDEWAY_HEADLESS),
    dataDir: resolve(e.TIDEWAY_DATA_DIR),
    cacheDir: resolve(e.TIDEWAY_CACHE_DIR ?? xdg),
    logLevel: e.TIDEWAY_LOG_LEVEL,
  };
}
