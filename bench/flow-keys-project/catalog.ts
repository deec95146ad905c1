import { defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

/**
 * The project `npm run bench:flow` runs: the same handler (sleep `ms`) behind a concurrency key
 * (`flowbench.keyed`, a limit that never binds at the bench's load, so only the permit round trip
 * differs) and without one (`flowbench.plain`), in the same group, lane and pool.
 */
const item = z.object({ key: z.string(), ms: z.number().int().min(0).max(60_000) }).strict();

export const keyed = defineTask({
  name: 'flowbench.keyed',
  group: 'flowbench',
  input: item,
  concurrency: { key: (input) => input.key, limit: 1000 },
});

export const plain = defineTask({ name: 'flowbench.plain', group: 'flowbench', input: item });

export const catalog = defineCatalog({
  app: 'flowbench',
  tasks: [keyed, plain] as const,
  pools: { flowbench: { all: { concurrency: 100, minReplicas: 0 } } },
});
export type Tasks = typeof catalog.tasks;
