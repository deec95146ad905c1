import { defineConfig } from 'tideway';
import { catalog } from './catalog';

/** The project `npm run bench:batch` starts its workers with (app-less: queues `tideway.bench.<lane>`). */
export default defineConfig({ catalog, handlers: { bench: () => import('./handlers') } });
