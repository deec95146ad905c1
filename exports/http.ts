/**
 * `tideway/http`: the HTTP API as a fastify server, for embedding or serving on its own.
 *
 *   const api = await startApiServer({ project: await loadProject() });   // listens; api.url
 *   const server = await buildApiServer({ client, keys });               // not listening; server.app
 */
export { startApiServer, ApiStartError } from '../api/http/start';
export type { StartApiOptions, RunningApi } from '../api/http/start';
export { buildApiServer, DEFAULT_BODY_LIMIT } from '../api/http/server';
export type { ApiServer, ApiServerOptions } from '../api/http/server';
export { ApiKeyStore, generateApiKey, hashApiKey } from '../api/http/auth';
