import { z } from 'zod';
import { onConflictSchema, type OnConflict } from './conflict';
import { debounceCatalogSchema, type CompiledDebounce } from './debounce';
import { durationMs } from './duration';
import { CatalogError, zodIssues, type FieldIssue } from './errors';
import { APP_NAME, APP_NAME_RULE, LANES, callbackTaskQueue, controlTaskQueue, poolTaskQueue, type Lane } from './names';
import { concurrencySchema, rateLimitSchema, type CompiledFlow } from './flow-schema';
import { compileRetry, retryPolicySchema, subSecondRetryWarnings, type CompiledRetry, type RetryPolicy } from './retry';
import { catalogSchedulePrefix, scheduleEntrySchema, type CompiledSchedule } from './schedule';
import { BATCH_DEFAULTS, type AnyTaskDefinition, type ShardFailurePolicy } from './task';

/** Defaults for everything a catalog may leave out, kept in one place. */
export const CATALOG_DEFAULTS = {
  lane: 'normal' as Lane,
  timeouts: { startToClose: '5m', heartbeat: '30s' },
  deadLetterRetention: '7d',
  pool: {
    concurrency: 10,
    minReplicas: 1,
    maxReplicas: 4,
    startupSeconds: 5,
    shutdownGrace: '30s',
    // Adaptive concurrency (workers/aimd.ts): halve on sustained throttling, +1 slot per interval.
    aimd: { enabled: true, window: '5s', minThrottled: 3, throttledRatio: 0.05, increaseInterval: '1s', minConcurrency: 1 },
  },
} as const;

/**
 * A zod schema, recognised by shape rather than `instanceof`: a user's project may load its own copy
 * of zod beside Tideway's.
 */
const zodSchema = z.custom<z.ZodType>((v) => typeof (v as { safeParse?: unknown } | null)?.safeParse === 'function', {
  message: 'must be a zod schema',
});

const NAME = /^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9_-]*)+$/;
const GROUP = /^[a-z][a-z0-9-]{0,39}$/;

const taskEntrySchema = z
  .object({
    name: z.string().regex(NAME, "must look like 'group.name' (lowercase, dots between parts)"),
    group: z.string().regex(GROUP, 'must be lowercase letters, digits and dashes, starting with a letter'),
    lane: z.enum(LANES).default(CATALOG_DEFAULTS.lane),
    input: zodSchema,
    output: zodSchema.optional(),
    timeouts: z
      .object({
        startToClose: durationMs.prefault(CATALOG_DEFAULTS.timeouts.startToClose),
        heartbeat: durationMs.prefault(CATALOG_DEFAULTS.timeouts.heartbeat),
      })
      .strict()
      .default(() => ({ startToClose: 300_000, heartbeat: 30_000 })),
    retry: retryPolicySchema.default(() => retryPolicySchema.parse({})),
    ttl: durationMs.optional(),
    deadLetterRetention: durationMs.prefault(CATALOG_DEFAULTS.deadLetterRetention),
    promoteAfter: durationMs.optional(),
    schedules: z.array(scheduleEntrySchema).default([]),
    description: z.string().optional(),
    debounce: debounceCatalogSchema.optional(),
    onConflict: onConflictSchema.optional(),
    dedupeFor: durationMs.optional(),
    singletonKey: z
      .custom<(input: unknown) => string>((v) => typeof v === 'function', { message: 'must be a function (input) => string' })
      .optional(),
    concurrency: concurrencySchema.optional(),
    rateLimit: rateLimitSchema.optional(),
    /** A batch type's options (`defineBatchTask`): its code lives in the group's handler module. */
    batch: z
      .object({
        shardInput: zodSchema.optional(),
        shardOutput: zodSchema.optional(),
        output: zodSchema.optional(),
        maxParallel: z.number().int().min(1).max(10_000).default(BATCH_DEFAULTS.maxParallel),
        onShardFailure: z.enum(['fail_fast', 'continue']).default(BATCH_DEFAULTS.onShardFailure),
        pageSize: z.number().int().min(1).max(1000).default(BATCH_DEFAULTS.pageSize),
        shardsPerRun: z.number().int().min(1).max(5000).default(BATCH_DEFAULTS.shardsPerRun),
      })
      .strict()
      .optional(),
    /** Inline handler; without one, the group's handler module (config `handlers`) provides it. */
    handler: z
      .custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', {
        message: 'must be an async function (input, ctx) => result',
      })
      .optional(),
  })
  .strict()
  .refine((t) => t.name.startsWith(`${t.group}.`), {
    message: "name must start with its group, e.g. group 'media' → 'media.thumbnail'",
    path: ['name'],
  })
  .refine((t) => !(t.batch && (t.concurrency || t.rateLimit)), {
    message: 'concurrency and rateLimit apply to task types, not batch types',
    path: ['concurrency'],
  })
  .refine((t) => !(t.batch && t.handler), {
    message: "a batch type's code lives in its group's handler module (defineBatchHandler), not inline",
    path: ['handler'],
  });

/** A batch type's options, compiled (plain data: workflow code receives it). */
export interface CompiledBatch {
  maxParallel: number;
  onShardFailure: ShardFailurePolicy;
  pageSize: number;
  shardsPerRun: number;
}

/** Adaptive concurrency of a pool process: when throttled errors pass both thresholds within `window`, halve. */
export const aimdSettingsSchema = z
  .object({
    enabled: z.boolean().default(CATALOG_DEFAULTS.pool.aimd.enabled),
    /** Outcomes older than this are forgotten. */
    window: durationMs.prefault(CATALOG_DEFAULTS.pool.aimd.window),
    /** At least this many throttled attempts in the window… */
    minThrottled: z.number().int().min(1).default(CATALOG_DEFAULTS.pool.aimd.minThrottled),
    /** …and at least this share of the window's finished attempts throttled, to halve. */
    throttledRatio: z.number().gt(0).max(1).default(CATALOG_DEFAULTS.pool.aimd.throttledRatio),
    /** While below the thresholds, one slot is added back per interval, up to `concurrency`. */
    increaseInterval: durationMs.prefault(CATALOG_DEFAULTS.pool.aimd.increaseInterval),
    /** The limit never drops below this. */
    minConcurrency: z.number().int().min(1).default(CATALOG_DEFAULTS.pool.aimd.minConcurrency),
  })
  .strict();
export type AimdSettings = z.output<typeof aimdSettingsSchema>;

export const poolSettingsSchema = z
  .object({
    concurrency: z.number().int().min(1).max(10_000).default(CATALOG_DEFAULTS.pool.concurrency),
    /** Activities per second across all replicas (server-enforced). */
    rateLimit: z.number().positive().optional(),
    minReplicas: z.number().int().min(0).default(CATALOG_DEFAULTS.pool.minReplicas),
    maxReplicas: z.number().int().min(1).default(CATALOG_DEFAULTS.pool.maxReplicas),
    startupSeconds: z.number().min(0).default(CATALOG_DEFAULTS.pool.startupSeconds),
    /** On SIGTERM in-flight tasks get this long to finish; after it they fail and retry elsewhere. */
    shutdownGrace: durationMs.prefault(CATALOG_DEFAULTS.pool.shutdownGrace),
    aimd: aimdSettingsSchema.prefault({}),
  })
  .strict()
  .refine((p) => p.maxReplicas >= p.minReplicas, { message: 'maxReplicas must be >= minReplicas', path: ['maxReplicas'] })
  .refine((p) => p.aimd.minConcurrency <= p.concurrency, {
    message: 'aimd.minConcurrency must be <= concurrency',
    path: ['aimd', 'minConcurrency'],
  });
export type PoolSettingsInput = z.input<typeof poolSettingsSchema>;
export type PoolSettings = z.output<typeof poolSettingsSchema>;

const poolsSchema = z.record(
  z.string().regex(GROUP),
  z.object({ high: z.unknown(), normal: z.unknown(), low: z.unknown(), all: z.unknown() }).partial().strict(),
);

/** Pool settings per group: one block for every lane (`all`) and/or per lane. */
export type PoolsInput = Record<string, Partial<Record<Lane | 'all', PoolSettingsInput>>>;

/** A task type after validation: durations in ms, retry compiled. */
export interface CompiledTask {
  readonly def: AnyTaskDefinition;
  readonly name: string;
  readonly group: string;
  readonly lane: Lane;
  readonly retry: RetryPolicy;
  readonly compiledRetry: CompiledRetry;
  readonly timeouts: { startToCloseMs: number; heartbeatMs: number };
  readonly ttlMs?: number;
  readonly deadLetterRetentionMs: number;
  readonly promoteAfterMs?: number;
  /** Set for a batch type (`defineBatchTask`). */
  readonly batch?: CompiledBatch;
  readonly debounce?: CompiledDebounce;
  readonly onConflict?: OnConflict;
  readonly dedupeForMs?: number;
  readonly singletonKey?: (input: unknown) => string;
  /** Flow control per key (`concurrency`, `rateLimit`). */
  readonly flow?: CompiledFlow;
}

export interface PoolSpec extends PoolSettings {
  readonly group: string;
  readonly lane: Lane;
  /** `tideway[.<app>].<group>.<lane>`. */
  readonly taskQueue: string;
}

export interface CatalogInput<T extends readonly AnyTaskDefinition[]> {
  tasks: T;
  pools?: PoolsInput;
  /**
   * App name carried by every queue of this catalog, so several projects can share one namespace.
   * Usually set in tideway.config.ts (`app`) rather than here. @default none: `tideway.control`
   */
  app?: string;
}

/** The validated catalog every process loads once. */
export interface Catalog<T extends readonly AnyTaskDefinition[] = readonly AnyTaskDefinition[]> {
  readonly tasks: T;
  /** The app whose queues this catalog's tasks run on; undefined = the unnamed app. */
  readonly app: string | undefined;
  /** `tideway[.<app>].control`: where `runTask` starts. */
  readonly controlQueue: string;
  /** `tideway[.<app>].callbacks`. */
  readonly callbackQueue: string;
  readonly byName: ReadonlyMap<string, CompiledTask>;
  readonly groups: readonly string[];
  readonly pools: readonly PoolSpec[];
  /** Cron schedules declared on task types. */
  readonly schedules: readonly CompiledSchedule[];
  /**
   * Valid entries that will not behave as written (a sub-second retry delay runs after ~1 s), as
   * `{ path, message }`; processes log them at start and `tideway types` prints them.
   */
  readonly warnings: readonly FieldIssue[];
  get(name: string): CompiledTask | undefined;
  pool(group: string, lane: Lane): PoolSpec | undefined;
  /** The same catalog on another app's queues (tideway.config.ts or TIDEWAY_APP chose it). */
  withApp(app: string | undefined): Catalog<T>;
}

/**
 * Validates a catalog and compiles it. Throws `CatalogError` naming the path of every bad field
 * (`tasks.2.retry.maxAttempts: ...`), so a bad entry fails the process at start.
 */
export function defineCatalog<const T extends readonly AnyTaskDefinition[]>(input: CatalogInput<T>): Catalog<T> {
  const issues: FieldIssue[] = [];
  if (input.app !== undefined && !APP_NAME.test(input.app)) {
    issues.push({ path: 'app', message: APP_NAME_RULE });
  }
  const app = input.app;
  const byName = new Map<string, CompiledTask>();
  const schedules: CompiledSchedule[] = [];
  input.tasks.forEach((raw, i) => {
    const parsed = taskEntrySchema.safeParse(raw);
    if (!parsed.success) {
      issues.push(...zodIssues(parsed.error.issues, `tasks.${i}${nameHint(raw)}`));
      return;
    }
    const t = parsed.data;
    if (byName.has(t.name)) {
      issues.push({ path: `tasks.${i}.name`, message: `duplicate task type ${t.name}` });
      return;
    }
    t.schedules.forEach((sc, j) => {
      const path = `tasks.${i}(${t.name}).schedules.${j}`;
      if (schedules.some((o) => o.id === sc.id)) issues.push({ path: `${path}.id`, message: `duplicate schedule id ${sc.id}` });
      const inputCheck = t.input.safeParse(sc.input);
      if (!inputCheck.success) issues.push(...zodIssues(inputCheck.error.issues, `${path}.input`));
      schedules.push({
        id: sc.id,
        scheduleId: `${catalogSchedulePrefix(app)}${sc.id}`,
        app,
        taskType: t.name,
        group: t.group,
        lane: sc.lane ?? t.lane,
        cron: sc.cron,
        timezone: sc.timezone,
        input: sc.input,
        overlap: sc.overlap,
        expectedTasks: sc.expectedTasks,
        ...(t.batch ? { batch: true } : {}),
      });
    });
    byName.set(t.name, {
      def: raw,
      name: t.name,
      group: t.group,
      lane: t.lane,
      retry: t.retry,
      compiledRetry: compileRetry(t.retry),
      timeouts: { startToCloseMs: t.timeouts.startToClose, heartbeatMs: t.timeouts.heartbeat },
      ...(t.ttl !== undefined ? { ttlMs: t.ttl } : {}),
      deadLetterRetentionMs: t.deadLetterRetention,
      ...(t.promoteAfter !== undefined ? { promoteAfterMs: t.promoteAfter } : {}),
      ...(t.debounce
        ? { debounce: { key: t.debounce.key, periodMs: t.debounce.period, maxWaitMs: t.debounce.maxWait, collect: t.debounce.collect } }
        : {}),
      ...(t.onConflict !== undefined ? { onConflict: t.onConflict } : {}),
      ...(t.dedupeFor !== undefined ? { dedupeForMs: t.dedupeFor } : {}),
      ...(t.singletonKey !== undefined ? { singletonKey: t.singletonKey } : {}),
      ...(t.concurrency || t.rateLimit
        ? {
            flow: {
              ...(t.concurrency ? { concurrency: { key: t.concurrency.key, limit: t.concurrency.limit } } : {}),
              ...(t.rateLimit
                ? { rate: { key: t.rateLimit.key, limit: t.rateLimit.limit, perMs: t.rateLimit.per, mode: t.rateLimit.mode } }
                : {}),
            },
          }
        : {}),
      ...(t.batch
        ? {
            batch: {
              maxParallel: t.batch.maxParallel,
              onShardFailure: t.batch.onShardFailure,
              pageSize: t.batch.pageSize,
              shardsPerRun: t.batch.shardsPerRun,
            },
          }
        : {}),
    });
  });

  const groups = [...new Set([...byName.values()].map((t) => t.group))].sort();
  const pools: PoolSpec[] = [];
  const poolsParsed = poolsSchema.safeParse(input.pools ?? {});
  if (!poolsParsed.success) issues.push(...zodIssues(poolsParsed.error.issues, 'pools'));
  const poolsIn = (poolsParsed.success ? poolsParsed.data : {}) as PoolsInput;
  for (const g of Object.keys(poolsIn)) {
    if (!groups.includes(g)) issues.push({ path: `pools.${g}`, message: `no task type belongs to group ${g}` });
  }
  for (const group of groups) {
    for (const lane of LANES) {
      const merged = { ...(poolsIn[group]?.all ?? {}), ...(poolsIn[group]?.[lane] ?? {}) };
      const p = poolSettingsSchema.safeParse(merged);
      if (!p.success) issues.push(...zodIssues(p.error.issues, `pools.${group}.${lane}`));
      else pools.push({ group, lane, taskQueue: poolTaskQueue(group, lane, app), ...p.data });
    }
  }
  if (issues.length > 0) throw new CatalogError(issues);
  const warnings: FieldIssue[] = [...byName.values()].flatMap((t) =>
    subSecondRetryWarnings(t.compiledRetry).map((w) => ({
      path: `tasks.${t.name}.${w.slice(0, w.indexOf(':'))}`,
      message: w.slice(w.indexOf(':') + 2),
    })),
  );

  return {
    tasks: input.tasks,
    app,
    controlQueue: controlTaskQueue(app),
    callbackQueue: callbackTaskQueue(app),
    byName,
    groups,
    pools,
    schedules,
    warnings,
    get: (name) => byName.get(name),
    pool: (group, lane) => pools.find((p) => p.group === group && p.lane === lane),
    withApp: (other) => {
      const { app: _app, ...rest } = input;
      return defineCatalog({ ...rest, ...(other !== undefined ? { app: other } : {}) });
    },
  };
}

function nameHint(raw: unknown): string {
  const name = (raw as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? `(${name})` : '';
}
