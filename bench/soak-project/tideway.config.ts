import { defineConfig } from 'tideway';
import { catalog } from './catalog';

/** The project `npm run bench:soak` starts its control worker, scaler and pools with. */
export default defineConfig({
  catalog,
  handlers: { alpha: () => import('./handlers-alpha'), beta: () => import('./handlers-beta') },
});
