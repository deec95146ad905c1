import { defineCatalog, defineConfig } from 'tideway';
import { tasks } from '../../examples/demo/catalog';

/**
 * The demo project with the demo pools' server-side `rateLimit` set from BENCH_POOL_RATE_LIMIT
 * (activities/s across the queue): the "static rate limit" policy `npm run bench:aimd` compares
 * against fixed concurrency and AIMD. Same task types and handlers as the demo.
 */
const rateLimit = Number(process.env.BENCH_POOL_RATE_LIMIT ?? 5);

export default defineConfig({
  catalog: defineCatalog({
    tasks,
    pools: { demo: { all: { concurrency: 20, minReplicas: 1, maxReplicas: 4, startupSeconds: 3, rateLimit } } },
  }),
  handlers: { demo: () => import('../../examples/demo/handlers') },
});
