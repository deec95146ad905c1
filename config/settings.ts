import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  DEFAULT_HIGH_WAIT_OBJECTIVE_MS,
  FIXED_ADMISSION_DEFAULTS,
  parseAdmissionMode,
  type AdmissionMode,
  type AdmissionScope,
} from './admission';
import { parseDuration } from './duration';
import { parseCodecKeys, type CodecKey } from './encryption';
import { parsePairs, parsePlanWeights, type PlanSettings } from './plans';
import { APP_NAME, APP_NAME_RULE } from './names';
import { TASK_LOG_DEFAULTS, TASK_LOG_LEVELS, type TaskLogLevel } from './task-log';

/**
 * Every setting of every Tideway process, in one place: one zod schema of the environment (each
 * variable with its default), compiled once into a readonly `Settings` (durations in ms, flags as
 * booleans, ports as numbers, lists parsed). A project's settings come from its tideway.config.ts
 * under the real environment (config/load.ts builds that environment and calls `loadSettings` on
 * it); no other module reads `process.env` (eslint.config.mjs enforces it). A bad value fails at
 * start with one error naming every bad variable.
 */

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Who runs the scaler's pools (scaler/actuators). */
export const SCALER_ACTUATORS = ['process', 'kubernetes', 'dry-run'] as const;

/** Default largest HTTP request body: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** One `tenant=key` of TIDEWAY_API_KEYS; the key plain or `sha256:<hex>`. */
export interface TenantKey {
  tenant: string;
  key: string;
}

/** `tenant=key,tenant2=key2` (commas or newlines, `#` comment lines) to entries; throws naming a malformed entry. */
export function parseTenantKeys(spec: string): TenantKey[] {
  const out: TenantKey[] = [];
  for (const [i, raw] of spec.split(/[,\n]/).entries()) {
    const entry = raw.trim();
    if (!entry || entry.startsWith('#')) continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`API key entry ${i + 1} is not tenant=key`);
    out.push({ tenant: entry.slice(0, eq).trim(), key: entry.slice(eq + 1).trim() });
  }
  return out;
}

/** Parses `tenant=secret,tenant2=secret2` (TIDEWAY_CALLBACK_SECRETS); entries without `=` are skipped. */
export function parseSecrets(spec: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of (spec ?? '').split(',')) {
    const entry = raw.trim();
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return out;
}

// Building blocks. Environment values are strings; each schema below turns one into its type.
const text = z.string().min(1);
/** Empty counts as unset (these variables were only ever tested for being set). */
const optional = <T extends z.ZodType>(s: T) => z.preprocess((v) => (v === '' ? undefined : v), s.optional());
const port = z.coerce.number().int().min(1).max(65535);
/** A port where 0 means "any free one". */
const anyPort = z.coerce.number().int().min(0).max(65535);
const num = z.coerce.number().finite();
const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');
/** Milliseconds, or a duration like `30s`, to milliseconds. */
const durationMs = z.string().transform((v, ctx) => {
  const ms = parseDuration(/^\d+$/.test(v) ? Number(v) : v);
  if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'not a duration' });
  return ms ?? z.NEVER;
});
/** A duration as the scaler's `--interval` takes it (`5s`), kept as text to pass on. */
const durationText = z.string().refine((v) => parseDuration(v) !== undefined, "not a duration, e.g. '5s'");
/** A value another parser reads; its error becomes this variable's issue. */
const parsedBy = <T>(parse: (v: string) => T, prefix: string | RegExp = '') =>
  z.string().transform((v, ctx) => {
    try {
      return parse(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(prefix, '') });
      return z.NEVER;
    }
  });
const jsonObject = parsedBy((v) => {
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('must be a JSON object');
  return o as Record<string, unknown>;
});
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** The environment of a Tideway process: every variable, its form and its default. */
const envSchema = z.object({
  // ── Project ──
  /** The config module (like `--config`); config/load.ts finds the project with it. Default: ./tideway.config.*. */
  TIDEWAY_CONFIG: optional(text),
  /** App name in every queue, schedule and control deployment. Default: none. */
  TIDEWAY_APP: z.string().regex(APP_NAME, APP_NAME_RULE).optional(),

  // ── Temporal ──
  /** A running server (host:port). Default: the dev server Tideway starts on TIDEWAY_TEMPORAL_PORT. */
  TEMPORAL_ADDRESS: text.optional(),
  /** Default: `default`. */
  TEMPORAL_NAMESPACE: text.default('default'),
  /** `1`: TLS without client files. Default: off (on with a certificate or an API key). */
  TEMPORAL_TLS: flag.default(false),
  /** mTLS client certificate and key (paths, both or neither). Default: none. */
  TEMPORAL_TLS_CERT: text.optional(),
  TEMPORAL_TLS_KEY: text.optional(),
  /** CA bundle to verify the server with. Default: the system's. */
  TEMPORAL_TLS_CA: text.optional(),
  /** Server name to verify. Default: the address's host. */
  TEMPORAL_TLS_SERVER_NAME: text.optional(),
  /** API key of a hosted cluster (implies TLS). Default: none. */
  TEMPORAL_API_KEY: text.optional(),

  // ── Dev server ──
  /** The Temporal CLI binary. Default: `temporal` on PATH, then the cached build. */
  TEMPORAL_CLI: text.optional(),
  /** Dev server gRPC port. Default: 7233. */
  TIDEWAY_TEMPORAL_PORT: port.default(7233),
  /** Dev server Web UI port. Default: 8233. */
  TIDEWAY_UI_PORT: port.default(8233),
  /** `1`: no Web UI. Default: off. */
  TIDEWAY_HEADLESS: flag.default(false),
  /** Dev server SQLite file, logs, scaler state. Default: `.tideway`. */
  TIDEWAY_DATA_DIR: text.default('.tideway'),
  /** Where the built Temporal CLI is kept. Default: `$XDG_CACHE_HOME/tideway`, else `~/.cache/tideway`. */
  TIDEWAY_CACHE_DIR: text.optional(),
  XDG_CACHE_HOME: optional(text),
  /** Folders searched for `temporal` and `go`. Default: none. */
  PATH: z.string().default(''),

  // ── Logs and metrics ──
  /** pino level of Tideway's JSON logs. Default: `info`. */
  TIDEWAY_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** host:port where a worker process serves the Temporal SDK's Prometheus metrics. Default: off. */
  TIDEWAY_SDK_METRICS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'use host:port, e.g. 127.0.0.1:9464')
    .optional(),
  /**
   * OTLP/HTTP base URL of a trace collector (`http://otel-collector:4318`); spans go to
   * `<url>/v1/traces`. Default: off (no tracer, no interceptors, no cost).
   */
  TIDEWAY_OTLP_ENDPOINT: optional(z.url({ protocol: /^https?$/, message: 'use an http(s) URL, e.g. http://127.0.0.1:4318' })),

  // ── Task logs (ctx.log; docs/ARCHITECTURE.md, "Task logs") ──
  /** Folder of the per-task log files (a shared volume serves several machines). Default: `<TIDEWAY_DATA_DIR>/task-logs`. */
  TIDEWAY_TASK_LOG_DIR: optional(text),
  /** Lowest level a task's own log keeps (the pool log follows TIDEWAY_LOG_LEVEL). Default: `info`. */
  TIDEWAY_TASK_LOG_LEVEL: z.enum(TASK_LOG_LEVELS).default(TASK_LOG_DEFAULTS.level),
  /** Lines and bytes one task keeps at most, then one `truncated` marker. Default: 5000 lines, 1 MiB. */
  TIDEWAY_TASK_LOG_MAX_LINES: z.coerce.number().int().min(10).default(TASK_LOG_DEFAULTS.maxLines),
  TIDEWAY_TASK_LOG_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(16 * 1024)
    .default(TASK_LOG_DEFAULTS.maxBytes),
  /** Task log files untouched this long are removed when a pool starts. Default: 7d. */
  TIDEWAY_TASK_LOG_RETENTION: durationMs.optional(),

  // ── Lane admission ──
  /** `adaptive`, `off`, or fixed budgets, e.g. `low=8/s` (shared by every process with the same budget unless TIDEWAY_ADMISSION_SCOPE=process). Default: adaptive. */
  TIDEWAY_ADMISSION: parsedBy((v) => parseAdmissionMode(v), /^TIDEWAY_ADMISSION: /).optional(),
  /** A fixed budget's scope: `cluster` (shared through the admission registry workflow) or `process`. Default: cluster. */
  TIDEWAY_ADMISSION_SCOPE: z.enum(['cluster', 'process']).optional(),
  /** How long a process counts in a shared fixed budget after its last check-in (it checks in every third of it). Default: 6s. */
  TIDEWAY_ADMISSION_TTL: durationMs
    .pipe(z.number().min(FIXED_ADMISSION_DEFAULTS.minMemberTtlMs, `must be at least ${FIXED_ADMISSION_DEFAULTS.minMemberTtlMs} ms`))
    .optional(),
  /** The high lane's queue wait (p99, submit to handler start) adaptive admission protects. Default: 250ms. */
  TIDEWAY_HIGH_WAIT_OBJECTIVE: durationMs.pipe(z.number().gt(0, 'must be above 0')).optional(),

  // ── HTTP API ──
  /** Default: 8080 (0: any free port). */
  TIDEWAY_PORT: anyPort.default(8080),
  /** Default: 127.0.0.1. */
  TIDEWAY_HOST: text.default('127.0.0.1'),
  /** `tenant=key,tenant2=key2` (keys plain or `sha256:<hex>`). Default: none. */
  TIDEWAY_API_KEYS: optional(parsedBy(parseTenantKeys)),
  /** A keys file: `tenant=key` lines or a JSON object. Default: none. */
  TIDEWAY_API_KEYS_FILE: optional(text),
  /** Fairness weight per plan, `free=1,pro=3` (config/plans.ts). Default: none. */
  TIDEWAY_PLANS: optional(parsedBy(parsePlanWeights)),
  /** Plan per tenant (the tenant of an API key), `acme=pro,beta=free`. Default: none (every tenant weight 1). */
  TIDEWAY_TENANT_PLANS: optional(parsedBy((v) => parsePairs(v, 'tenant plan'))),
  /** Largest request body in bytes (larger: 413). Default: 1 MiB. */
  TIDEWAY_BODY_LIMIT: z.coerce.number().int().min(1024).default(DEFAULT_BODY_LIMIT),
  /** Backpressure (docs/http-api.md): backlog, oldest-task age, heavy-tenant share, per-tenant in-flight. Default: the API's own. */
  TIDEWAY_MAX_BACKLOG: num.int().min(0).optional(),
  TIDEWAY_MAX_BACKLOG_AGE: durationMs.optional(),
  TIDEWAY_HEAVY_SHARE: num.gt(0).max(1).optional(),
  TIDEWAY_TENANT_INFLIGHT: num.int().min(0).optional(),
  /** `1`: `node dist/api/http/main.js` creates a key when none is configured. Default: off. */
  TIDEWAY_DEV: flag.default(false),
  /** The Temporal Web UI the dashboard links each task to. Default: the dev server's UI when Tideway starts one, else none. */
  TIDEWAY_WEB_UI_URL: optional(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' })),

  // ── Payload encryption (README, "Encryption") ──
  /** `id:base64key,...` AES-256 keys, the first current (`openssl rand -base64 32`). Default: none (payloads in the clear). */
  TIDEWAY_CODEC_KEYS: optional(parsedBy(parseCodecKeys)),
  /** A keys file, one `id:base64key` per line, after TIDEWAY_CODEC_KEYS's. Default: none. */
  TIDEWAY_CODEC_KEYS_FILE: optional(text),
  /** Origins (the Temporal Web UI's) the API's codec endpoint answers cross-origin. Default: the dev server UI's. */
  TIDEWAY_CODEC_CORS_ORIGINS: optional(list),

  // ── Result callbacks ──
  /** `tenant=secret,...` HMAC secret per tenant (`*`: every other tenant). Default: none. */
  TIDEWAY_CALLBACK_SECRETS: z.string().default('').transform(parseSecrets),
  /** Hosts, IPs or CIDRs callbacks may reach although private or loopback. Default: none. */
  TIDEWAY_CALLBACK_ALLOWLIST: list.default([]),

  // ── CLI over HTTP ──
  /** The CLI acts over this HTTP API instead of Temporal. Default: unset. */
  TIDEWAY_URL: optional(text),
  /** Its API key (decides the tenant). Default: none. */
  TIDEWAY_API_KEY: optional(text),

  // ── Pool processes (per process: replicas share a host in dev) ──
  /** Port of /healthz and /metrics. Default: 0 (a free one, printed in the ready line). */
  TIDEWAY_METRICS_PORT: anyPort.default(0),
  TIDEWAY_METRICS_HOST: text.default('0.0.0.0'),
  /** Overrides the pool's `shutdownGrace`, in ms. Default: the catalog's. */
  TIDEWAY_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).optional(),
  /** Overrides the pool's `aimd.enabled`. Default: the catalog's. */
  TIDEWAY_AIMD: flag.optional(),

  // ── Control worker versioning (docs/pools.md, "Upgrades") ──
  /** Join the control Worker Deployment as this build. Default: unversioned. */
  TIDEWAY_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'use 1-64 letters, digits, dots, dashes or underscores')
    .optional(),
  /** Default: `auto-upgrade`. */
  TIDEWAY_VERSIONING_BEHAVIOR: z.enum(['auto-upgrade', 'pinned']).default('auto-upgrade'),
  /** `1`: make this build current once it polls. Default: off. */
  TIDEWAY_PROMOTE: flag.default(false),

  // ── Scaler (docs/scaler.md) ──
  /** Scaler options as a JSON object. Default: `{}`. */
  TIDEWAY_SCALER_OPTIONS: optional(jsonObject),
  /** Decision interval under `tideway dev`. Default: 5s, unless the scaler options name one. */
  TIDEWAY_SCALER_INTERVAL: optional(durationText),
  /** Who runs the pools (`--actuator`). Default: `process`. */
  TIDEWAY_SCALER_ACTUATOR: z.enum(SCALER_ACTUATORS).default('process'),
  /** Serve the scaler's /metrics and /state on this port (`--metrics-port`). Default: off. */
  TIDEWAY_SCALER_METRICS_PORT: optional(anyPort),
  /** `1`: act only while holding the scaler lease (a workflow on the control queue), so one of several scaler replicas scales (`--lease`). Default: off. */
  TIDEWAY_SCALER_LEASE: flag.default(false),
  /** How long the lease holds without renewal; a standby takes over this long after the holder dies. Default: 15s. */
  TIDEWAY_SCALER_LEASE_TTL: durationText.default('15s'),
});

/** How to reach Temporal beyond its address: TLS (mTLS files) and an API key for a hosted cluster. */
export interface TemporalSecurity {
  readonly tls: boolean;
  /** Paths of the client certificate and key (mTLS). */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** Path of a CA bundle to verify the server with. */
  readonly tlsCa: string | undefined;
  readonly tlsServerName: string | undefined;
  readonly apiKey: string | undefined;
}

export interface Settings extends TemporalSecurity {
  /** The config module the project was loaded from, when named. */
  readonly configFile: string | undefined;
  /** The app name in every queue (several projects on one namespace); undefined = none. */
  readonly app: string | undefined;
  /** Existing server to use; when unset Tideway starts a dev server. */
  readonly temporalAddress: string | undefined;
  readonly namespace: string;
  /** Explicit Temporal CLI binary. */
  readonly temporalCli: string | undefined;
  readonly temporalPort: number;
  readonly uiPort: number;
  readonly headless: boolean;
  /** Where the dev server's SQLite file and logs live. */
  readonly dataDir: string;
  /** Where a built Temporal CLI is cached across clones. */
  readonly cacheDir: string;
  /** PATH: where to look for the `temporal` and `go` binaries. */
  readonly searchPath: string;
  readonly logLevel: LogLevel;
  /** host:port of the Temporal SDK's own Prometheus metrics in worker processes; undefined = off. */
  readonly sdkMetrics: string | undefined;
  /** Task logs: where the per-task files live, what they keep, and for how long. */
  readonly taskLogs: {
    readonly dir: string;
    readonly level: TaskLogLevel;
    readonly maxLines: number;
    readonly maxBytes: number;
    readonly retentionMs: number;
  };
  /** OpenTelemetry tracing of submit → workflow → activity (temporal/tracing.ts); endpoint undefined = off. */
  readonly tracing: { readonly otlpEndpoint: string | undefined };
  /** How starts of the lower lanes are admitted (admission/); adaptive unless TIDEWAY_ADMISSION says otherwise. */
  readonly admission: Readonly<AdmissionMode>;
  readonly lanes: {
    /** The high lane's queue-wait objective (p99), in ms. */
    readonly high: { readonly waitObjectiveMs: number };
  };
  /** Fairness weight by plan (config/plans.ts). */
  readonly plans: PlanSettings;
  readonly api: {
    readonly port: number;
    readonly host: string;
    readonly keys: readonly Readonly<TenantKey>[];
    readonly keysFile: string | undefined;
    readonly bodyLimit: number;
    /** Overrides of the API's backpressure defaults (api/http/backpressure.ts). */
    readonly backpressure: {
      readonly maxBacklog?: number;
      readonly maxBacklogAgeMs?: number;
      readonly heavyShare?: number;
      readonly tenantInflightLimit?: number;
    };
    /** The API process creates a key when none is configured. */
    readonly dev: boolean;
    /** Base URL of the Temporal Web UI for the dashboard's task links; undefined = no links. */
    readonly webUiUrl: string | undefined;
  };
  /** Payload encryption: no keys (and no file) = off. */
  readonly codec: {
    readonly keys: readonly CodecKey[];
    readonly keysFile: string | undefined;
    /** Origins allowed to call the API's `/codec/*` from a browser. */
    readonly corsOrigins: readonly string[];
  };
  readonly callbacks: {
    /** Secret per tenant (`*` applies to tenants without their own). */
    readonly secrets: Readonly<Record<string, string>>;
    /** Hosts, IPs or CIDRs allowed although loopback/private. */
    readonly allowlist: readonly string[];
  };
  /** The CLI over the HTTP API (both or neither; HttpTaskClient.fromSettings checks). */
  readonly cli: { readonly url: string | undefined; readonly apiKey: string | undefined };
  /** A pool process; undefined overrides leave the catalog's pool settings. */
  readonly pool: {
    readonly metricsPort: number;
    readonly metricsHost: string;
    readonly shutdownGraceMs: number | undefined;
    readonly aimd: boolean | undefined;
  };
  /** The control worker's Worker Deployment version; buildId undefined = unversioned. */
  readonly control: {
    readonly buildId: string | undefined;
    readonly versioningBehavior: 'auto-upgrade' | 'pinned';
    readonly promote: boolean;
  };
  readonly scaler: {
    /** Scaler options (parsed JSON, checked against the catalog by the scaler); undefined = none. */
    readonly options: Readonly<Record<string, unknown>> | undefined;
    readonly interval: string | undefined;
    readonly actuator: (typeof SCALER_ACTUATORS)[number];
    readonly metricsPort: number | undefined;
    /** Scale only while holding the scaler lease (several scaler replicas). */
    readonly lease: boolean;
    readonly leaseTtl: string;
  };
}

/** The Temporal server the settings name: TEMPORAL_ADDRESS, else the embedded dev server's port. */
export function temporalAddressOf(s: Pick<Settings, 'temporalAddress' | 'temporalPort'>): string {
  return s.temporalAddress ?? `127.0.0.1:${s.temporalPort}`;
}

/**
 * Validates and compiles the settings of `env`. Entry points with a project take `project.settings`
 * instead; only those without one (`tideway temporal`, `HttpTaskClient.fromEnv`, test setup) call
 * this with the process environment, the only place that default is read.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = envSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  if ((env.TEMPORAL_TLS_CERT === undefined) !== (env.TEMPORAL_TLS_KEY === undefined)) {
    problems.push('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS needs both)');
  }
  if (!parsed.success || problems.length > 0) throw new Error(`invalid environment:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return deepFreeze(compile(parsed.data));
}

function compile(e: z.output<typeof envSchema>): Settings {
  return {
    configFile: e.TIDEWAY_CONFIG,
    app: e.TIDEWAY_APP,
    temporalAddress: e.TEMPORAL_ADDRESS,
    // A client certificate or an API key means TLS; TEMPORAL_TLS=1 asks for it with neither.
    tls: e.TEMPORAL_TLS || e.TEMPORAL_TLS_CERT !== undefined || e.TEMPORAL_API_KEY !== undefined,
    tlsCert: e.TEMPORAL_TLS_CERT,
    tlsKey: e.TEMPORAL_TLS_KEY,
    tlsCa: e.TEMPORAL_TLS_CA,
    tlsServerName: e.TEMPORAL_TLS_SERVER_NAME,
    apiKey: e.TEMPORAL_API_KEY,
    namespace: e.TEMPORAL_NAMESPACE,
    temporalCli: e.TEMPORAL_CLI,
    temporalPort: e.TIDEWAY_TEMPORAL_PORT,
    uiPort: e.TIDEWAY_UI_PORT,
    headless: e.TIDEWAY_HEADLESS,
    dataDir: resolve(e.TIDEWAY_DATA_DIR),
    cacheDir: resolve(e.TIDEWAY_CACHE_DIR ?? (e.XDG_CACHE_HOME ? join(e.XDG_CACHE_HOME, 'tideway') : join(homedir(), '.cache', 'tideway'))),
    searchPath: e.PATH,
    logLevel: e.TIDEWAY_LOG_LEVEL,
    sdkMetrics: e.TIDEWAY_SDK_METRICS,
    taskLogs: {
      dir: resolve(e.TIDEWAY_TASK_LOG_DIR ?? join(e.TIDEWAY_DATA_DIR, 'task-logs')),
      level: e.TIDEWAY_TASK_LOG_LEVEL,
      maxLines: e.TIDEWAY_TASK_LOG_MAX_LINES,
      maxBytes: e.TIDEWAY_TASK_LOG_MAX_BYTES,
      retentionMs: e.TIDEWAY_TASK_LOG_RETENTION ?? TASK_LOG_DEFAULTS.retentionMs,
    },
    tracing: { otlpEndpoint: e.TIDEWAY_OTLP_ENDPOINT?.replace(/\/+$/, '') },
    // The objective is its own variable, so it is set once the mode is parsed.
    admission: fixedSharing(
      adaptiveObjective(e.TIDEWAY_ADMISSION, e.TIDEWAY_HIGH_WAIT_OBJECTIVE ?? DEFAULT_HIGH_WAIT_OBJECTIVE_MS),
      e.TIDEWAY_ADMISSION_SCOPE,
      e.TIDEWAY_ADMISSION_TTL,
    ),
    lanes: { high: { waitObjectiveMs: e.TIDEWAY_HIGH_WAIT_OBJECTIVE ?? DEFAULT_HIGH_WAIT_OBJECTIVE_MS } },
    plans: { weights: e.TIDEWAY_PLANS ?? {}, tenants: e.TIDEWAY_TENANT_PLANS ?? {} },
    api: {
      port: e.TIDEWAY_PORT,
      host: e.TIDEWAY_HOST,
      keys: e.TIDEWAY_API_KEYS ?? [],
      keysFile: e.TIDEWAY_API_KEYS_FILE,
      bodyLimit: e.TIDEWAY_BODY_LIMIT,
      backpressure: {
        ...(e.TIDEWAY_MAX_BACKLOG !== undefined ? { maxBacklog: e.TIDEWAY_MAX_BACKLOG } : {}),
        ...(e.TIDEWAY_MAX_BACKLOG_AGE !== undefined ? { maxBacklogAgeMs: e.TIDEWAY_MAX_BACKLOG_AGE } : {}),
        ...(e.TIDEWAY_HEAVY_SHARE !== undefined ? { heavyShare: e.TIDEWAY_HEAVY_SHARE } : {}),
        ...(e.TIDEWAY_TENANT_INFLIGHT !== undefined ? { tenantInflightLimit: e.TIDEWAY_TENANT_INFLIGHT } : {}),
      },
      dev: e.TIDEWAY_DEV,
      // With no address Tideway starts the dev server itself, whose UI is on TIDEWAY_UI_PORT.
      webUiUrl: e.TIDEWAY_WEB_UI_URL ?? (e.TEMPORAL_ADDRESS || e.TIDEWAY_HEADLESS ? undefined : `http://localhost:${e.TIDEWAY_UI_PORT}`),
    },
    codec: {
      keys: e.TIDEWAY_CODEC_KEYS ?? [],
      keysFile: e.TIDEWAY_CODEC_KEYS_FILE,
      corsOrigins: e.TIDEWAY_CODEC_CORS_ORIGINS ?? [`http://localhost:${e.TIDEWAY_UI_PORT}`, `http://127.0.0.1:${e.TIDEWAY_UI_PORT}`],
    },
    callbacks: { secrets: e.TIDEWAY_CALLBACK_SECRETS, allowlist: e.TIDEWAY_CALLBACK_ALLOWLIST },
    cli: { url: e.TIDEWAY_URL, apiKey: e.TIDEWAY_API_KEY },
    pool: {
      metricsPort: e.TIDEWAY_METRICS_PORT,
      metricsHost: e.TIDEWAY_METRICS_HOST,
      shutdownGraceMs: e.TIDEWAY_SHUTDOWN_GRACE_MS,
      aimd: e.TIDEWAY_AIMD,
    },
    control: { buildId: e.TIDEWAY_BUILD_ID, versioningBehavior: e.TIDEWAY_VERSIONING_BEHAVIOR, promote: e.TIDEWAY_PROMOTE },
    scaler: {
      options: e.TIDEWAY_SCALER_OPTIONS,
      interval: e.TIDEWAY_SCALER_INTERVAL,
      actuator: e.TIDEWAY_SCALER_ACTUATOR,
      metricsPort: e.TIDEWAY_SCALER_METRICS_PORT,
      lease: e.TIDEWAY_SCALER_LEASE,
      leaseTtl: e.TIDEWAY_SCALER_LEASE_TTL,
    },
  };
}

function adaptiveObjective(mode: AdmissionMode | undefined, objectiveMs: number): AdmissionMode {
  return !mode || mode.kind === 'adaptive' ? { kind: 'adaptive', objectiveMs } : mode;
}

/** A fixed budget with the scope and TTL of their own variables (left out when unset: the defaults apply). */
function fixedSharing(mode: AdmissionMode, scope: AdmissionScope | undefined, ttlMs: number | undefined): AdmissionMode {
  if (mode.kind !== 'fixed') return mode;
  return { ...mode, ...(scope ? { scope } : {}), ...(ttlMs !== undefined ? { memberTtlMs: ttlMs } : {}) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
