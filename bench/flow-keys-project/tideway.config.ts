import { defineConfig } from 'tideway';
import { catalog } from './catalog';

/** The project `npm run bench:flow` starts its workers with (app `flowbench`). */
export default defineConfig({ app: 'flowbench', catalog, handlers: { flowbench: () => import('./handlers') } });
