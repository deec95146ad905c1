import { defineCatalog, defineTask } from 'tideway';
import { z } from 'zod';

/**
 * The project `npm run bench:soak` runs: two groups (alpha, beta), one task type each, submitted
 * into all three lanes. Each task sleeps `ms` and appends a ledger line (soak-project/handlers.ts).
 */
const input = z.object({ n: z.number().int().min(0), ms: z.number().int().min(0).max(60_000) }).strict();
const output = z.object({ n: z.number().int() }).strict();

export const tasks = [
  defineTask({
    name: 'alpha.work',
    group: 'alpha',
    description: 'Sleeps {ms} ms, returns {n}.',
    input,
    output,
    timeouts: { startToClose: '1m' },
  }),
  defineTask({
    name: 'beta.work',
    group: 'beta',
    description: 'Sleeps {ms} ms, returns {n}.',
    input,
    output,
    timeouts: { startToClose: '1m' },
  }),
] as const;

export const catalog = defineCatalog({
  tasks,
  pools: {
    alpha: { all: { concurrency: 20, minReplicas: 1, maxReplicas: 3, startupSeconds: 3, shutdownGrace: '20s' } },
    beta: { all: { concurrency: 20, minReplicas: 1, maxReplicas: 3, startupSeconds: 3, shutdownGrace: '20s' } },
  },
});

export type Tasks = typeof tasks;
