import { defineConfig } from 'tideway';
import { catalog } from './catalog';

export default defineConfig({ app: 'fbench', catalog, handlers: { fbench: () => import('./handlers') } });
