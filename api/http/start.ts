import { z } from 'zod';
import { parseDuration } from '../../config/duration';
import { createLogger } from '../../config/log';
import { parseAdmission, type AdmissionSpec } from '../../config/admission';
import type { Project } from '../../config/load';
import { loadSettings } from '../../config/settings';
import { securityOptions } from '../../temporal/connection';
import { TaskClient } from '../task-client';
import { ApiKeyStore, generateApiKey } from './auth';
import type { BackpressureOptions } from './backpressure';
import type { PoolInfoProvider } from './pools';
import { buildApiServer, DEFAULT_BODY_LIMIT, type ApiServer } from './server';

/** Thrown at start when the API's environment is invalid or no API key is configured outside dev. */
export class ApiStartError extends Error {
  readonly type = 'ApiStartError';
}

const num = z.coerce.number().finite();
const duration = z.string().refine((v) => parseDuration(/^\d+$/.test(v) ? Number(v) : v) !== undefined, 'not a duration');
const envSchema = z.object({
  TIDEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  TIDEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  TIDEWAY_BODY_LIMIT: z.coerce.number().int().min(1024).default(DEFAULT_BODY_LIMIT),
  TIDEWAY_MAX_BACKLOG: num.int().min(0).optional(),
  TIDEWAY_MAX_BACKLOG_AGE: duration.optional(),
  TIDEWAY_HEAVY_SHARE: num.gt(0).max(1).optional(),
  TIDEWAY_TENANT_INFLIGHT: num.int().min(0).optional(),
});

export interface StartApiOptions {
  /** The loaded project: its catalog, and the settings its config and environment give. */
  project: Project;
  /** Temporal address. @default TEMPORAL_ADDRESS or 127.0.0.1:7233 */
  address?: string;
  namespace?: string;
  /** @default TIDEWAY_PORT or 8080 (0 = any free port) */
  port?: number;
  host?: string;
  /** In dev, a missing key configuration creates a key for tenant `default` and prints it. @default false */
  dev?: boolean;
  /** Where to print the URL (and a dev key). @default stdout */
  say?: (line: string) => void;
  /** @default the project's environment (its config under the process environment) */
  env?: NodeJS.ProcessEnv;
  poolProviders?: PoolInfoProvider[];
  /** Lane start budgets. @default TIDEWAY_ADMISSION (none when unset) */
  admission?: AdmissionSpec;
}

type ApiEnv = z.output<typeof envSchema>;

function parseApiEnv(env: NodeJS.ProcessEnv): ApiEnv {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ApiStartError(`invalid environment:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return parsed.data;
}

function backpressureOf(e: ApiEnv): BackpressureOptions {
  return {
    ...(e.TIDEWAY_MAX_BACKLOG !== undefined ? { maxBacklog: e.TIDEWAY_MAX_BACKLOG } : {}),
    ...(e.TIDEWAY_MAX_BACKLOG_AGE !== undefined
      ? {
          maxBacklogAgeMs: parseDuration(
            /^\d+$/.test(e.TIDEWAY_MAX_BACKLOG_AGE) ? Number(e.TIDEWAY_MAX_BACKLOG_AGE) : e.TIDEWAY_MAX_BACKLOG_AGE,
          )!,
        }
      : {}),
    ...(e.TIDEWAY_HEAVY_SHARE !== undefined ? { heavyShare: e.TIDEWAY_HEAVY_SHARE } : {}),
    ...(e.TIDEWAY_TENANT_INFLIGHT !== undefined ? { tenantInflightLimit: e.TIDEWAY_TENANT_INFLIGHT } : {}),
  };
}

/**
 * The backpressure settings an API server started with `env` applies (TIDEWAY_MAX_BACKLOG,
 * TIDEWAY_MAX_BACKLOG_AGE, TIDEWAY_HEAVY_SHARE, TIDEWAY_TENANT_INFLIGHT); the CLI's direct mode
 * reports pools against the same limits.
 */
export function backpressureFromEnv(env: NodeJS.ProcessEnv): BackpressureOptions {
  return backpressureOf(parseApiEnv(env));
}

/** An HTTP submit waits at most this long for its lane's budget, then gets 429 with Retry-After. */
const API_ADMISSION_MAX_WAIT_MS = 1000;

/** A listening API server. */
export interface RunningApi {
  url: string;
  server: ApiServer;
  /** The key created for tenant `default` in dev, when none was configured. */
  devKey?: string;
  close(): Promise<void>;
}

/**
 * Starts the HTTP API from the environment (TIDEWAY_PORT, TIDEWAY_API_KEYS / TIDEWAY_API_KEYS_FILE,
 * TIDEWAY_BODY_LIMIT, TIDEWAY_MAX_BACKLOG, TIDEWAY_MAX_BACKLOG_AGE, TIDEWAY_HEAVY_SHARE,
 * TIDEWAY_TENANT_INFLIGHT) and returns once it listens.
 */
export async function startApiServer(opts: StartApiOptions): Promise<RunningApi> {
  const env = opts.env ?? opts.project.env;
  const e = parseApiEnv(env);
  const say = opts.say ?? ((l: string) => process.stdout.write(`${l}\n`));
  const keys = ApiKeyStore.fromEnv(env);
  let devKey: string | undefined;
  if (keys.size === 0) {
    if (!opts.dev) throw new ApiStartError('no API keys: set TIDEWAY_API_KEYS=tenant=key,... or TIDEWAY_API_KEYS_FILE');
    devKey = generateApiKey();
    keys.add('default', devKey);
  }
  const backpressure = backpressureOf(e);
  const settings = loadSettings(env);
  const client = await TaskClient.connect({
    catalog: opts.project.catalog,
    address: opts.address ?? settings.temporalAddress ?? `127.0.0.1:${settings.temporalPort}`,
    namespace: opts.namespace ?? settings.namespace,
    connection: securityOptions(settings),
    admission: opts.admission ?? parseAdmission(env.TIDEWAY_ADMISSION),
    admissionMaxWaitMs: API_ADMISSION_MAX_WAIT_MS,
  });
  const server = await buildApiServer({
    client,
    keys,
    bodyLimit: e.TIDEWAY_BODY_LIMIT,
    backpressure,
    logger: createLogger('api'),
    ...(opts.poolProviders ? { poolProviders: opts.poolProviders } : {}),
  });
  const host = opts.host ?? e.TIDEWAY_HOST;
  await server.app.listen({ port: opts.port ?? e.TIDEWAY_PORT, host });
  const addr = server.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : e.TIDEWAY_PORT;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  say(`  HTTP API        ${url}  (openapi: ${url}/openapi.json)`);
  if (devKey) {
    say(`  API key         ${devKey}  (tenant "default"; created for this dev run — set TIDEWAY_API_KEYS to choose your own)`);
    say(`                  export TIDEWAY_URL=${url} TIDEWAY_API_KEY=${devKey}`);
  }
  return {
    url,
    server,
    ...(devKey ? { devKey } : {}),
    async close() {
      await server.close();
      await client.close();
    },
  };
}
