import { defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

/**
 * The project `npm run bench:flow` runs: the same handler (sleep `ms`) behind a concurrency key
 * (`flowbench.keyed`, limit 1000, and `flowbench.tight`, limit 3 over 50 keys: limits that never
 * bind at the bench's load, so only the permit differs) and without one (`flowbench.plain`), in the same group, lane and pool.
 */
const item = z.object({ key: z.string(), ms: z.number().int().min(0).max(60_000) }).strict();

export const keyed = defineTask({
  name: 'flowbench.keyed',
  group: 'flowbench',
  input: item,
  concurrency: { key: (input) => input.key, limit: 1000 },
});

/** A limit too small for leases (< 4): every attempt asks its key's limiter (an update) and releases (a signal). */
export const tight = defineTask({
  name: 'flowbench.tight',
  group: 'flowbench',
  input: item,
  concurrency: { key: (input) => input.key, limit: 3 },
});

export const plain = defineTask({ name: 'flowbench.plain', group: 'flowbench', input: item });

export const catalog = defineCatalog({
  app: 'flowbench',
  tasks: [keyed, tight, plain] as const,
  pools: { flowbench: { all: { concurrency: 100, minReplicas: 0 } } },
});
export type Tasks = typeof catalog.tasks;
