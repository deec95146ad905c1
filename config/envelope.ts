import { z } from 'zod';
import { durationMs } from './duration';
import { UnknownTaskTypeError, ValidationError, zodIssues } from './errors';
import { DEFAULT_TENANT, LANES, poolTaskQueue, type Lane } from './names';
import type { CompiledRetry } from './retry';
import type { Catalog, CompiledBatch } from './catalog-schema';
import type { ResolvedFlow } from './flow';
import { resolveFlow } from './flow-schema';

/** Largest encoded input Tideway accepts for one task (Temporal's own payload limit is 2 MiB). */
export const MAX_INPUT_BYTES = 256 * 1024;

/**
 * Deepest nesting of arrays and objects an input may have. Deeper input would overflow the stack of
 * every recursive encoder on its way (JSON.stringify here, the SDK's payload converter), which is
 * a 500 instead of an answer; no real task input needs more.
 */
export const MAX_INPUT_DEPTH = 64;

/** True when `value` nests arrays/objects deeper than `limit` (iterative: deep input cannot overflow it). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Task IDs become workflow IDs: printable, no path tricks, bounded. */
export const taskIdSchema = z
  .string()
  .min(1, 'taskId must not be empty')
  .max(200, 'taskId must be at most 200 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@=+-]*$/, 'taskId may use letters, digits and . _ : @ = + - (starting with a letter or digit)')
  .refine((s) => !s.includes('..'), 'taskId must not contain ".."');

/**
 * A task ID as a lookup takes it: a submitted task's ID, or a batch shard's (`<taskId>/shard-<n>`,
 * which no submit may use; config/names.ts `shardTaskId`).
 */
export const taskRefSchema = z.string().superRefine((s, ctx) => {
  const shard = /^(.+)\/shard-(0|[1-9][0-9]{0,9})$/.exec(s);
  const r = taskIdSchema.safeParse(shard ? shard[1] : s);
  if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message });
});

/**
 * A caller's tag for a task (a dye mark): it travels with the task to its handler, which forwards
 * it on downstream calls (`ctx.tag.headers()`: header `x-tideway-tag`), so a downstream service can
 * route or isolate this traffic. Header-safe by construction: no spaces, no control characters.
 */
export const taskTagSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:@=+\/-]{0,127}$/,
    'tag must be 1-128 letters, digits or . _ : @ = + / - (starting with a letter or digit)',
  );

export const tenantSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'tenant must be 1-64 letters, digits, _ or -');

/** The one argument of workflow `runTask`: the public contract for plain Temporal client starts. */
export const envelopeSchema = z
  .object({
    type: z.string().min(1, 'type is required'),
    input: z.unknown(),
    lane: z.enum(LANES).optional(),
    tenant: tenantSchema.optional(),
    delay: durationMs.optional(),
    ttl: durationMs.optional(),
    callbackUrl: z.url().optional(),
    tags: z.array(z.string().max(64)).max(20).optional(),
    tag: taskTagSchema.optional(),
  })
  .strict();

export type TaskEnvelope = z.input<typeof envelopeSchema>;

/** Everything workflow code needs to run a task, as plain data (no functions). */
export interface ResolvedTask {
  type: string;
  group: string;
  lane: Lane;
  tenant: string;
  taskQueue: string;
  input: unknown;
  delayMs?: number;
  ttlMs?: number;
  callbackUrl?: string;
  tags?: string[];
  /** The caller's tag, forwarded by the handler with the task ID (`ctx.tag`). */
  tag?: string;
  timeouts: { startToCloseMs: number; heartbeatMs: number };
  retry: CompiledRetry;
  deadLetterRetentionMs: number;
  promoteAfterMs?: number;
  /** Set by the control worker's resolve step when an earlier run of this task ID succeeded. */
  earlierSuccess?: EarlierSuccess;
  /** A batch type's options: the task runs as `runBatch`, its shards as tasks of `<type>#shard`. */
  batch?: CompiledBatch;
  /** Flow control per key, its keys computed here from the input (workflow code never runs a key function). */
  flow?: ResolvedFlow;
}

/** An earlier run of the same task ID that succeeded (found in visibility by the resolve step). */
export interface EarlierSuccess {
  runId: string;
  finishedAt?: string;
  /** That run's result, when it is small enough to carry (`resultOmitted` otherwise). */
  result?: unknown;
  resultOmitted?: boolean;
}

/**
 * Validates an envelope against the catalog. Throws `ValidationError` (with the path of each bad
 * field, input fields under `input.`) or `UnknownTaskTypeError`.
 */
export function resolveEnvelope(catalog: Catalog, raw: unknown): ResolvedTask {
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) throw new ValidationError(zodIssues(env.error.issues));
  const e = env.data;
  const task = catalog.get(e.type);
  if (!task) throw new UnknownTaskTypeError(e.type, [...catalog.byName.keys()]);
  if (nestedDeeperThan(e.input, MAX_INPUT_DEPTH)) {
    throw new ValidationError([{ path: 'input', message: `input nests deeper than ${MAX_INPUT_DEPTH} levels of arrays and objects` }]);
  }
  const input = task.def.input.safeParse(e.input);
  if (!input.success) throw new ValidationError(zodIssues(input.error.issues, 'input'));
  const size = Buffer.byteLength(JSON.stringify(input.data ?? null));
  if (size > MAX_INPUT_BYTES) {
    throw new ValidationError([{ path: 'input', message: `input is ${size} bytes; the limit is ${MAX_INPUT_BYTES}` }]);
  }
  const lane = e.lane ?? task.lane;
  const ttlMs = e.ttl ?? task.ttlMs;
  const tenant = e.tenant ?? DEFAULT_TENANT;
  const flow = resolveFlow(task.flow, input.data, { type: task.name, tenant, lane });
  return {
    type: task.name,
    group: task.group,
    lane,
    tenant,
    taskQueue: poolTaskQueue(task.group, lane, catalog.app),
    input: input.data,
    ...(e.delay !== undefined ? { delayMs: e.delay } : {}),
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(e.callbackUrl !== undefined ? { callbackUrl: e.callbackUrl } : {}),
    ...(e.tags !== undefined ? { tags: e.tags } : {}),
    ...(e.tag !== undefined ? { tag: e.tag } : {}),
    timeouts: task.timeouts,
    retry: task.compiledRetry,
    deadLetterRetentionMs: task.deadLetterRetentionMs,
    ...(task.promoteAfterMs !== undefined ? { promoteAfterMs: task.promoteAfterMs } : {}),
    ...(task.batch ? { batch: task.batch } : {}),
    ...(flow ? { flow } : {}),
  };
}

/** A bulk's ID: the task-ID alphabet (its chunks are `<bulkId>~<n>`), a little shorter. */
export const bulkIdSchema = z
  .string()
  .min(1, 'bulkId must not be empty')
  .max(150, 'bulkId must be at most 150 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@=+-]*$/, 'bulkId may use letters, digits and . _ : @ = + - (starting with a letter or digit)')
  .refine((s) => !s.includes('..'), 'bulkId must not contain ".."');
