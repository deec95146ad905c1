import { createLogger } from '../../config/log';
import type { AdmissionMode, AdmissionSpec } from '../../config/admission';
import { TidewayError } from '../../config/errors';
import type { Project } from '../../config/load';
import { temporalAddressOf, type Settings } from '../../config/settings';
import { FileTaskLogStore } from '../../config/task-log-file';
import { securityOptions } from '../../temporal/connection';
import { dataConverterOf } from '../../temporal/codec';
import { installTracing } from '../../temporal/tracing';
import { planWeights } from '../../config/plans';
import { TaskClient } from '../task-client';
import { ApiKeyStore, generateApiKey } from './auth';
import type { PoolInfoProvider } from './pools';
import { buildApiServer, type ApiServer } from './server';

/** Thrown at start when no API key is configured outside dev. */
export class ApiStartError extends TidewayError {
  readonly type = 'ApiStartError';
}

export interface StartApiOptions {
  /** The loaded project: its catalog, and the settings its config and environment give. */
  project: Project;
  /** Temporal address. @default the settings' (TEMPORAL_ADDRESS, else the dev server's port) */
  address?: string;
  namespace?: string;
  /** @default the settings' (TIDEWAY_PORT, else 8080; 0 = any free port) */
  port?: number;
  host?: string;
  /** In dev, a missing key configuration creates a key for tenant `default` and prints it. @default false */
  dev?: boolean;
  /** Where to print the URL (and a dev key). @default stdout */
  say?: (line: string) => void;
  /** @default the project's (its config under the process environment) */
  settings?: Settings;
  poolProviders?: PoolInfoProvider[];
  /** Lane admission. @default the settings' (TIDEWAY_ADMISSION and TIDEWAY_HIGH_WAIT_OBJECTIVE; adaptive when unset) */
  admission?: AdmissionMode | AdmissionSpec;
  /** The Temporal Web UI the dashboard links tasks to (`tideway dev` passes its dev server's). @default the settings' */
  webUiUrl?: string;
}

/** An HTTP submit waits at most this long for its lane's permit, then gets 429 with Retry-After. */
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
 * Starts the HTTP API with the project's settings (TIDEWAY_PORT, TIDEWAY_API_KEYS / TIDEWAY_API_KEYS_FILE,
 * TIDEWAY_BODY_LIMIT, TIDEWAY_MAX_BACKLOG, TIDEWAY_MAX_BACKLOG_AGE, TIDEWAY_HEAVY_SHARE,
 * TIDEWAY_TENANT_INFLIGHT) and returns once it listens.
 */
export async function startApiServer(opts: StartApiOptions): Promise<RunningApi> {
  const settings = opts.settings ?? opts.project.settings;
  const say = opts.say ?? ((l: string) => process.stdout.write(`${l}\n`));
  const keys = ApiKeyStore.fromSettings(settings.api);
  let devKey: string | undefined;
  if (keys.size === 0) {
    if (!opts.dev)
      throw new ApiStartError(
        'no API keys: set api.keys in tideway.config.ts, or TIDEWAY_API_KEYS=tenant=key,... or TIDEWAY_API_KEYS_FILE',
      );
    devKey = generateApiKey();
    keys.add('default', devKey);
  }
  // Before the client connects: its submits carry their trace into the workflows they start.
  await installTracing(settings.tracing.otlpEndpoint, 'tideway-api');
  const dataConverter = dataConverterOf(settings);
  // The client's own codec (when encryption is on) also serves the Web UI at /codec/*.
  const codec = dataConverter.payloadCodecs?.[0];
  const client = await TaskClient.connect({
    catalog: opts.project.catalog,
    address: opts.address ?? temporalAddressOf(settings),
    namespace: opts.namespace ?? settings.namespace,
    connection: securityOptions(settings),
    dataConverter,
    admission: opts.admission ?? settings.admission,
    admissionMaxWaitMs: API_ADMISSION_MAX_WAIT_MS,
    logger: createLogger('admission', settings.logLevel),
    // Task logs are read from the files the pools of this machine (or a shared volume) write.
    taskLogs: new FileTaskLogStore({ dir: settings.taskLogs.dir }),
    // The tenant of the API key decides the plan, the plan the fairness weight (config/plans.ts).
    fairnessWeightOf: planWeights(settings.plans),
  });
  const server = await buildApiServer({
    client,
    keys,
    bodyLimit: settings.api.bodyLimit,
    backpressure: settings.api.backpressure,
    ...(codec ? { codec: { codec, corsOrigins: settings.codec.corsOrigins } } : {}),
    logger: createLogger('api', settings.logLevel),
    ...(opts.poolProviders ? { poolProviders: opts.poolProviders } : {}),
    dashboard: {
      highWaitObjectiveMs: settings.lanes.high.waitObjectiveMs,
      ...(settings.scaler.options ? { scalerOptions: settings.scaler.options } : {}),
      ...((opts.webUiUrl ?? settings.api.webUiUrl) ? { webUiUrl: opts.webUiUrl ?? settings.api.webUiUrl } : {}),
    },
  });
  const host = opts.host ?? settings.api.host;
  await server.app.listen({ port: opts.port ?? settings.api.port, host });
  const addr = server.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : settings.api.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  say(`  HTTP API        ${url}  (openapi: ${url}/openapi.json)`);
  say(`  Dashboard       ${url}/`);
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
