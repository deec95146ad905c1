import { defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

/** bench/flow-weights.ts: one low-lane type whose pool has 2 slots, so a flood makes a backlog to order. */
export const weighted = defineTask({
  name: 'fbench.weighted',
  group: 'fbench',
  lane: 'low',
  input: z.object({ ms: z.number().int().min(0).max(60_000) }).strict(),
});

export const catalog = defineCatalog({
  app: 'fbench',
  tasks: [weighted] as const,
  pools: { fbench: { all: { concurrency: 2, minReplicas: 0, aimd: { enabled: false, minConcurrency: 1 } } } },
});
export type Tasks = typeof catalog.tasks;
