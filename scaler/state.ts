import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

/** One pool in the scaler's state file (what `tideway pools` and `GET /v1/pools` show). */
export const poolStateSchema = z.object({
  pool: z.string(),
  group: z.string(),
  lane: z.string(),
  taskQueue: z.string(),
  backlog: z.number(),
  backlogAgeMs: z.number(),
  addRate: z.number(),
  dispatchRate: z.number(),
  inFlight: z.number(),
  meanDurationMs: z.number(),
  meanDurationSource: z.enum(['learned', 'default']),
  replicas: z.number(),
  desired: z.number(),
  recommended: z.number(),
  reason: z.string(),
  minReplicas: z.number(),
  maxReplicas: z.number(),
  nextFires: z.array(
    z.object({
      at: z.string(),
      scheduleId: z.string(),
      taskType: z.string(),
      expectedTasks: z.number(),
      /** `learned` from a batch schedule's last completed runs, else `declared` (older files: declared). */
      sizeSource: z.enum(['declared', 'learned']).default('declared'),
      /** A batch's cap on shards running at once. */
      maxParallel: z.number().optional(),
    }),
  ),
});
export type PoolState = z.infer<typeof poolStateSchema>;

/** The file the scaler rewrites after every decision round. */
export const scalerStateSchema = z.object({
  updatedAt: z.string(),
  pid: z.number(),
  actuator: z.string(),
  intervalMs: z.number(),
  pools: z.array(poolStateSchema),
});
export type ScalerState = z.infer<typeof scalerStateSchema>;

/** Default state file: `<TIDEWAY_DATA_DIR>/scaler-state.json`. */
export function defaultStateFile(dataDir: string): string {
  return join(dataDir, 'scaler-state.json');
}

/** Writes the state atomically (rename), so readers never see half a file. */
export function writeScalerState(file: string, state: ScalerState): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** Reads and validates the state file; undefined when no scaler has written one. */
export function readScalerState(file: string): ScalerState | undefined {
  if (!existsSync(file)) return undefined;
  return scalerStateSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** True when the state is older than three decision intervals (the scaler is probably not running). */
export function isStale(state: ScalerState, now = Date.now()): boolean {
  return now - Date.parse(state.updatedAt) > 3 * state.intervalMs + 5_000;
}
