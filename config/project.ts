import { z } from 'zod';
import type { Catalog } from './catalog-schema';
import { ConfigError, zodIssues } from './errors';
import { APP_NAME, APP_NAME_RULE } from './names';
import type { AnyTaskDefinition, BatchHandler, BatchSpec, TaskHandler } from './task';

/**
 * The shape of a project's `tideway.config.ts`: which catalog its processes serve, where its
 * handlers live, and its settings. Every setting here is also an environment variable (named beside
 * it), and the environment wins, so one file serves every process and a deployment still overrides.
 * Pure: no I/O (config/load.ts finds and loads the file).
 */

/** A group's handler module: `export default defineHandlers(catalog, { 'media.thumbnail': async (input, ctx) => ... })`. */
export type HandlerModule = { default?: unknown; handlers?: unknown } | Record<string, unknown>;

/** Loads one group's handler module, e.g. `() => import('./src/handlers/media')`. */
export type HandlerLoader = () => Promise<HandlerModule>;

export interface TidewayConfigInput<T extends readonly AnyTaskDefinition[] = readonly AnyTaskDefinition[]> {
  /** The task catalog (`defineCatalog`): types, schemas, lanes, retry policies, pools. */
  catalog: Catalog<T>;
  /**
   * Handler modules per service group, loaded only by that group's pool processes, so one group's
   * heavy dependency or import-time crash never reaches another group's pool, the API or the
   * control worker. A task type with an inline `handler` needs no entry.
   */
  handlers?: Record<string, HandlerLoader>;
  /** Keeps this project's queues apart from other projects' on one namespace. `TIDEWAY_APP`. @default none */
  app?: string;
  temporal?: {
    /** `TEMPORAL_ADDRESS`. @default a dev server started by `tideway dev` (127.0.0.1:7233) */
    address?: string;
    /** `TEMPORAL_NAMESPACE`. @default 'default' */
    namespace?: string;
    /**
     * TLS to the server: `true` for server-verified TLS, or mTLS files (paths relative to this
     * file). `TEMPORAL_TLS=1`, `TEMPORAL_TLS_CERT`, `TEMPORAL_TLS_KEY`, `TEMPORAL_TLS_CA`, `TEMPORAL_TLS_SERVER_NAME`.
     */
    tls?: boolean | { cert?: string; key?: string; ca?: string; serverName?: string };
    /** API key for a hosted cluster (implies TLS). `TEMPORAL_API_KEY`. */
    apiKey?: string;
  };
  api?: {
    /** `TIDEWAY_PORT`. @default 8080 */
    port?: number;
    /** `TIDEWAY_HOST`. @default '127.0.0.1' */
    host?: string;
    /** API keys per tenant, `{ tenant: key }` (plain or `sha256:<hex>`). `TIDEWAY_API_KEYS=tenant=key,...` */
    keys?: Record<string, string>;
    /** A keys file, one `tenant=key` per line. `TIDEWAY_API_KEYS_FILE`. */
    keysFile?: string;
  };
  /**
   * How starts of the normal and low lanes are admitted: `'adaptive'` (paced by the server's health
   * to keep the high lane within its objective), `'off'`, or fixed budgets per submitting process,
   * e.g. `'low=20/s'`. `TIDEWAY_ADMISSION`. @default 'adaptive'
   */
  admission?: string;
  lanes?: {
    high?: {
      /** The high lane's queue wait (p99, submit to handler start) adaptive admission protects. `TIDEWAY_HIGH_WAIT_OBJECTIVE`. @default '250ms' */
      waitObjective?: string;
    };
  };
  /**
   * AES-256-GCM payload encryption (README, "Encryption"): what the Temporal server stores of
   * inputs, results and metadata is sealed. Keep the keys themselves out of the file (read them
   * from a secret store or the environment).
   */
  encryption?: {
    /** Keys, the first current (new payloads), the rest still decrypted (rotation). `TIDEWAY_CODEC_KEYS=id:base64key,...` */
    keys?: { id: string; key: string }[];
    /** A keys file, one `id:base64key` per line (relative to this file). `TIDEWAY_CODEC_KEYS_FILE`. */
    keysFile?: string;
    /** Origins of the Temporal Web UI allowed to call the API's codec endpoint. `TIDEWAY_CODEC_CORS_ORIGINS`. @default the dev server UI's */
    corsOrigins?: string[];
  };
  /** Scaler options (docs/scaler.md). `TIDEWAY_SCALER_OPTIONS` (JSON). */
  scaler?: Record<string, unknown>;
  /** Dev server data, logs and scaler state (relative to this file). `TIDEWAY_DATA_DIR`. @default '.tideway' */
  dataDir?: string;
  /** `TIDEWAY_LOG_LEVEL`. @default 'info' */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}

/** Declares a project's config; the catalog's task types flow into the typed helpers. */
export function defineConfig<const T extends readonly AnyTaskDefinition[]>(config: TidewayConfigInput<T>): TidewayConfigInput<T> {
  return config;
}

/** Handlers for some task types of a catalog, typed by it: the export of a group's handler module. */
export type HandlerMap<T extends readonly AnyTaskDefinition[]> = {
  [K in T[number]['name']]?: HandlerOf<Extract<T[number], { name: K }>>;
};
/** A task type's handler; a batch type's is its `{ split, shard, reduce }` (`defineBatchHandler`). */
type HandlerOf<D> = D extends { input: infer S extends z.ZodType; batch: BatchSpec<infer Ds, infer R, infer O> }
  ? BatchHandler<z.output<S>, Ds, R, O>
  : D extends { input: infer S extends z.ZodType }
    ? TaskHandler<z.output<S>, HandlerResult<D>>
    : never;
type HandlerResult<D> = D extends { output?: z.ZodType<infer O> } ? (unknown extends O ? unknown : O) : unknown;

/** Declares a group's handlers against the catalog, so names, inputs and results are checked at compile time. */
export function defineHandlers<T extends readonly AnyTaskDefinition[]>(_catalog: Catalog<T>, handlers: HandlerMap<T>): HandlerMap<T> {
  return handlers;
}

const fnSchema = z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function' });
const nonEmpty = z.string().min(1);

/** The config file's schema: validates what the user's module exported, naming each bad field. */
export const configSchema = z
  .object({
    catalog: z.custom<Catalog>((v) => typeof v === 'object' && v !== null && 'byName' in v && typeof (v as Catalog).get === 'function', {
      message: "must be a catalog from defineCatalog({ tasks, pools }) (import { defineCatalog } from 'tideway')",
    }),
    handlers: z.record(z.string(), fnSchema).optional(),
    app: z.string().regex(APP_NAME, APP_NAME_RULE).optional(),
    temporal: z
      .object({
        address: nonEmpty.optional(),
        namespace: nonEmpty.optional(),
        tls: z
          .union([
            z.boolean(),
            z
              .object({ cert: nonEmpty.optional(), key: nonEmpty.optional(), ca: nonEmpty.optional(), serverName: nonEmpty.optional() })
              .strict(),
          ])
          .optional(),
        apiKey: nonEmpty.optional(),
      })
      .strict()
      .optional(),
    api: z
      .object({
        port: z.number().int().min(0).max(65535).optional(),
        host: nonEmpty.optional(),
        keys: z.record(z.string(), z.string().min(8)).optional(),
        keysFile: nonEmpty.optional(),
      })
      .strict()
      .optional(),
    admission: nonEmpty.optional(),
    lanes: z
      .object({ high: z.object({ waitObjective: nonEmpty.optional() }).strict().optional() })
      .strict()
      .optional(),
    encryption: z
      .object({
        keys: z.array(z.object({ id: nonEmpty, key: nonEmpty }).strict()).optional(),
        keysFile: nonEmpty.optional(),
        corsOrigins: z.array(nonEmpty).optional(),
      })
      .strict()
      .optional(),
    scaler: z.record(z.string(), z.unknown()).optional(),
    dataDir: nonEmpty.optional(),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
  })
  .strict();

export type TidewayConfig = z.output<typeof configSchema>;

/** Validates a loaded config module's export; throws ConfigError naming every bad field. */
export function parseConfig(value: unknown, file: string): TidewayConfig {
  const r = configSchema.safeParse(value);
  if (!r.success) throw new ConfigError(`invalid config in ${file}:`, zodIssues(r.error.issues));
  return r.data;
}

/**
 * The config's settings as the environment variables they stand for (paths made absolute against
 * `resolvePath`). Merged under the real environment: `{ ...configEnv(c), ...process.env }`.
 */
export function configEnv(c: TidewayConfig, resolvePath: (p: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (k: string, v: string | number | undefined) => {
    if (v !== undefined) out[k] = String(v);
  };
  set('TIDEWAY_APP', c.app);
  set('TEMPORAL_ADDRESS', c.temporal?.address);
  set('TEMPORAL_NAMESPACE', c.temporal?.namespace);
  const tls = c.temporal?.tls;
  if (tls === true) set('TEMPORAL_TLS', '1');
  if (typeof tls === 'object') {
    set('TEMPORAL_TLS', '1');
    set('TEMPORAL_TLS_CERT', tls.cert && resolvePath(tls.cert));
    set('TEMPORAL_TLS_KEY', tls.key && resolvePath(tls.key));
    set('TEMPORAL_TLS_CA', tls.ca && resolvePath(tls.ca));
    set('TEMPORAL_TLS_SERVER_NAME', tls.serverName);
  }
  set('TEMPORAL_API_KEY', c.temporal?.apiKey);
  set('TIDEWAY_PORT', c.api?.port);
  set('TIDEWAY_HOST', c.api?.host);
  if (c.api?.keys) {
    set(
      'TIDEWAY_API_KEYS',
      Object.entries(c.api.keys)
        .map(([tenant, key]) => `${tenant}=${key}`)
        .join(','),
    );
  }
  set('TIDEWAY_API_KEYS_FILE', c.api?.keysFile && resolvePath(c.api.keysFile));
  set('TIDEWAY_ADMISSION', c.admission);
  set('TIDEWAY_HIGH_WAIT_OBJECTIVE', c.lanes?.high?.waitObjective);
  if (c.encryption?.keys) set('TIDEWAY_CODEC_KEYS', c.encryption.keys.map((k) => `${k.id}:${k.key}`).join(','));
  set('TIDEWAY_CODEC_KEYS_FILE', c.encryption?.keysFile && resolvePath(c.encryption.keysFile));
  if (c.encryption?.corsOrigins) set('TIDEWAY_CODEC_CORS_ORIGINS', c.encryption.corsOrigins.join(','));
  if (c.scaler) set('TIDEWAY_SCALER_OPTIONS', JSON.stringify(c.scaler));
  set('TIDEWAY_DATA_DIR', c.dataDir && resolvePath(c.dataDir));
  set('TIDEWAY_LOG_LEVEL', c.logLevel);
  return out;
}
