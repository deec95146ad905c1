import { defineConfig } from 'tideway';
import { catalog } from './catalog';

/**
 * The demo project `npm start` runs in this repo: the catalog, and the demo group's handler module,
 * which only the demo pools load. No app name, so its queues keep the plain names
 * (`tideway.control`, `tideway.demo.<lane>`).
 */
export default defineConfig({
  catalog,
  handlers: { demo: () => import('./handlers') },
});
