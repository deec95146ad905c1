import { defineConfig } from 'tideway';
import { catalog } from './src/catalog';

/**
 * The media app's Tideway project: every `tideway` command and every process it starts loads this
 * file (from the working folder, or --config / TIDEWAY_CONFIG). Each setting can also be overridden
 * by its environment variable (TIDEWAY_PORT, TEMPORAL_ADDRESS, ...), which wins over the file.
 */
const apiKey = process.env.MEDIA_APP_API_KEY;

export default defineConfig({
  // Our queues are tideway.media-app.control, tideway.media-app.media.{high,normal,low}: another
  // project can share the Temporal namespace without taking our tasks.
  app: 'media-app',
  catalog,
  // Handler modules per service group, loaded only by that group's pool processes.
  handlers: {
    media: () => import('./src/handlers/media'),
  },
  api: {
    port: 8080,
    // Tenant `media-app` authenticates with MEDIA_APP_API_KEY. Without it, `tideway dev` makes a
    // key for tenant `default` and prints it; outside dev the API refuses to start without keys.
    ...(apiKey ? { keys: { 'media-app': apiKey } } : {}),
  },
  // No temporal.address: `tideway dev` starts a local dev server. Set TEMPORAL_ADDRESS (and
  // TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY) to use a real cluster.
});
