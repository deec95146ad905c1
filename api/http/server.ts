import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Catalog } from '../../config/catalog-schema';
import { createLogger, type Logger } from '../../config/log';
import type { AnyTaskClient } from '../task-client';
import { authenticate, type ApiKeyStore } from './auth';
import { Backpressure, QueueStatsReader, type BackpressureOptions } from './backpressure';
import { describeBatch, startBatch } from './batches';
import { BadRequestError, NotFoundError, toErrorResponse } from './errors';
import { ApiMetrics } from './metrics';
import { buildOpenApi, type RouteDoc } from './openapi';
import { describePools, type PoolInfoProvider } from './pools';
import { createSchedule, describeSchedule, listSchedules, scheduleAction } from './schedules';
import {
  actionBodySchema,
  actionResultSchema,
  batchBodySchema,
  batchIdParam,
  batchStartedSchema,
  batchStatusSchema,
  bulkBodySchema,
  bulkResultSchema,
  healthSchema,
  issuesOf,
  listQuerySchema,
  listResultSchema,
  poolListSchema,
  scheduleActionSchema,
  scheduleBodySchema,
  scheduleIdParam,
  scheduleListSchema,
  scheduleSchema,
  submitBodySchema,
  submitResultSchema,
  TASK_ACTIONS,
  taskIdParam,
  taskStateSchema,
  SCHEDULE_ACTIONS,
  type TaskAction,
} from './schemas';
import { TenantTasks } from './tasks';

/** Default largest request body: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface ApiServerOptions {
  /** TaskClient over Temporal that the API acts through. */
  client: AnyTaskClient;
  /** API keys → tenants. */
  keys: ApiKeyStore;
  /** @default the client's catalog */
  catalog?: Catalog;
  /** Largest request body in bytes; larger gets 413. @default 1 MiB */
  bodyLimit?: number;
  /** Backpressure and quota settings, or `false` to admit everything. @default defaults of BackpressureOptions */
  backpressure?: BackpressureOptions | false;
  /** Extra per-pool facts for `GET /v1/pools` (the scaler plugs in here). */
  poolProviders?: PoolInfoProvider[];
  /** Structured log for decisions (throttling); fastify's own request log stays off. */
  logger?: Logger;
}

/** A built (not yet listening) API server and the parts tests and the bench poke at. */
export interface ApiServer {
  app: FastifyInstance;
  metrics: ApiMetrics;
  backpressure: Backpressure | undefined;
  stats: QueueStatsReader;
  openapi: Record<string, unknown>;
  routes: readonly RouteDoc[];
  close(): Promise<void>;
}

type Handler = (ctx: { tenant: string; req: FastifyRequest; reply: FastifyReply }) => Promise<unknown>;
interface Route extends RouteDoc {
  /** fastify path; routes sharing one (the `{id}:action` forms) are dispatched by `handler`. */
  url: string;
  status?: number;
  handler: Handler;
}

const ok = (description: string, schema?: z.ZodType | 'text') => ({ description, ...(schema ? { schema } : {}) });

function parse<T extends z.ZodType>(schema: T, value: unknown, prefix = ''): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new BadRequestError(issuesOf(r.error, prefix));
  return r.data;
}

/** Splits `<id>:<action>` on the last colon (task IDs may contain colons themselves). */
function splitAction<A extends string>(raw: string, actions: readonly A[]): { id: string; action: A } {
  const at = raw.lastIndexOf(':');
  const action = raw.slice(at + 1) as A;
  if (at <= 0 || !actions.includes(action)) throw new NotFoundError(`no such route; use {id}:${actions.join('|')}`);
  return { id: raw.slice(0, at), action };
}

/** Builds the fastify app with every route of the public contract; call `app.listen` to serve. */
export async function buildApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const catalog = opts.catalog ?? (opts.client.catalog as unknown as Catalog);
  const log = opts.logger ?? createLogger('api');
  const temporal = opts.client.temporal;
  const metrics = new ApiMetrics();
  const stats = new QueueStatsReader(temporal, opts.backpressure ? (opts.backpressure.statsTtlMs ?? 1_000) : 1_000);
  const backpressure =
    opts.backpressure === false
      ? undefined
      : new Backpressure(temporal, stats, opts.backpressure ?? {}, log, (tenant, reason) => metrics.throttled.inc({ tenant, reason }));
  const tasks = new TenantTasks(opts.client, catalog, backpressure, (tenant, outcome) => metrics.submits.inc({ tenant, outcome }));
  const providers = opts.poolProviders ?? [];

  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    logger: false,
    routerOptions: { maxParamLength: 2048 },
    // Errors Node's HTTP parser raises (e.g. a 20 KB URL → 431) never reach fastify's handlers;
    // answer them in the same error shape as everything else.
    clientErrorHandler: (err, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = (err as { code?: string }).code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = JSON.stringify({
        error: {
          type: status === 431 ? 'HeadersTooLarge' : 'BadRequest',
          message: status === 431 ? 'request line or headers too large' : 'malformed HTTP request',
        },
      });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  const params = (req: FastifyRequest) => req.params as Record<string, string>;

  const taskActionDocs: Route[] = TASK_ACTIONS.map((a) => ({
    method: 'post',
    path: `/v1/tasks/{id}:${a}`,
    url: '',
    summary: `${a} one task${a === 'redrive' ? ' (dead-lettered; optional body {lane})' : ''}`,
    tags: ['tasks'],
    auth: true,
    params: { id: taskIdParam },
    ...(a === 'redrive' ? { body: actionBodySchema } : {}),
    responses: { 202: ok('accepted', actionResultSchema) },
    handler: async () => undefined,
  }));
  const scheduleActionDocs: Route[] = SCHEDULE_ACTIONS.map((a) => ({
    method: 'post',
    path: `/v1/schedules/{id}:${a}`,
    url: '',
    summary: `${a} one of your schedules`,
    tags: ['schedules'],
    auth: true,
    params: { id: scheduleIdParam },
    responses: { 202: ok('accepted', scheduleActionSchema) },
    handler: async () => undefined,
  }));

  const routes: Route[] = [
    {
      method: 'get',
      path: '/healthz',
      url: '/healthz',
      summary: 'liveness and Temporal reachability',
      tags: ['system'],
      auth: false,
      responses: { 200: ok('up', healthSchema), 503: ok('Temporal unreachable', healthSchema) },
      handler: async ({ reply }) => {
        try {
          await temporal.workflowService.getSystemInfo({});
          return { ok: true, temporal: 'up' };
        } catch {
          reply.code(503);
          return { ok: false, temporal: 'down' };
        }
      },
    },
    {
      method: 'get',
      path: '/metrics',
      url: '/metrics',
      summary: 'Prometheus metrics',
      tags: ['system'],
      auth: true,
      responses: { 200: ok('metrics in Prometheus text format', 'text') },
      handler: async ({ reply }) => {
        reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    },
    {
      method: 'get',
      path: '/openapi.json',
      url: '/openapi.json',
      summary: 'this document',
      tags: ['system'],
      auth: true,
      responses: { 200: ok('OpenAPI 3.1 document') },
      handler: async () => openapi,
    },
    {
      method: 'post',
      path: '/v1/tasks',
      url: '/v1/tasks',
      summary: 'submit a task',
      tags: ['tasks'],
      auth: true,
      body: submitBodySchema,
      headers: { 'Idempotency-Key': { schema: taskIdParam, description: 'task ID for dedupe (same as body taskId)' } },
      responses: { 201: ok('started', submitResultSchema), 200: ok('duplicate: the existing task, nothing started', submitResultSchema) },
      handler: async ({ tenant, req, reply }) => {
        const key = req.headers['idempotency-key'];
        const r = await tasks.submit(tenant, req.body, Array.isArray(key) ? key.join(',') : key);
        reply.code(r.duplicate ? 200 : 201);
        return r.duplicate ? r : { taskId: r.taskId, status: r.status };
      },
    },
    {
      method: 'post',
      path: '/v1/tasks:bulk',
      url: '/v1/tasks::bulk',
      summary: 'submit up to 1,000 tasks; per-item results',
      tags: ['tasks'],
      auth: true,
      body: bulkBodySchema,
      responses: { 200: ok('per-item results (each with its own httpStatus)', bulkResultSchema) },
      handler: async ({ tenant, req }) => tasks.submitBulk(tenant, parse(bulkBodySchema, req.body).tasks),
    },
    {
      method: 'get',
      path: '/v1/tasks',
      url: '/v1/tasks',
      summary: 'list your tasks',
      tags: ['tasks'],
      auth: true,
      query: listQuerySchema,
      responses: { 200: ok('one page', listResultSchema) },
      handler: async ({ tenant, req }) => tasks.list(tenant, req.query),
    },
    {
      method: 'get',
      path: '/v1/tasks/{id}',
      url: '/v1/tasks/:id',
      summary: "a task's state",
      tags: ['tasks'],
      auth: true,
      params: { id: taskIdParam },
      responses: { 200: ok('state', taskStateSchema) },
      handler: async ({ tenant, req }) => {
        const raw = params(req).id ?? '';
        // `GET /v1/tasks/x:cancel` is not a thing; say so rather than 404 on a task called that.
        return tasks.get(tenant, raw);
      },
    },
    ...taskActionDocs,
    {
      method: 'post',
      path: '/v1/tasks/{id}:{action}',
      url: '/v1/tasks/:idAction',
      summary: '(dispatch of the task actions above)',
      tags: ['tasks'],
      auth: true,
      responses: { 202: ok('accepted', actionResultSchema) },
      handler: async ({ tenant, req, reply }) => {
        const { id, action } = splitAction<TaskAction>(params(req).idAction ?? '', TASK_ACTIONS);
        const body =
          action === 'redrive'
            ? parse(actionBodySchema, req.body ?? {})
            : parse(z.undefined().or(z.object({}).strict()).or(z.null()), req.body);
        await tasks.act(tenant, id, action, body ?? {});
        reply.code(202);
        return { taskId: id, action, accepted: true };
      },
    },
    {
      method: 'post',
      path: '/v1/batches',
      url: '/v1/batches',
      summary: 'pause/resume/cancel/redrive all your tasks matching a filter',
      tags: ['batches'],
      auth: true,
      body: batchBodySchema,
      responses: { 202: ok('started', batchStartedSchema) },
      handler: async ({ tenant, req, reply }) => {
        const b = parse(batchBodySchema, req.body);
        const r = await startBatch(temporal, tenant, b);
        reply.code(202);
        return r;
      },
    },
    {
      method: 'get',
      path: '/v1/batches/{id}',
      url: '/v1/batches/:id',
      summary: 'progress of one of your batches',
      tags: ['batches'],
      auth: true,
      params: { id: batchIdParam },
      responses: { 200: ok('progress', batchStatusSchema) },
      handler: async ({ tenant, req }) => describeBatch(temporal, tenant, parse(batchIdParam, params(req).id, 'id')),
    },
    {
      method: 'get',
      path: '/v1/schedules',
      url: '/v1/schedules',
      summary: 'your schedules with next fire times',
      tags: ['schedules'],
      auth: true,
      responses: { 200: ok('schedules', scheduleListSchema) },
      handler: async ({ tenant }) => ({ schedules: await listSchedules(temporal, tenant) }),
    },
    {
      method: 'post',
      path: '/v1/schedules',
      url: '/v1/schedules',
      summary: 'create a cron task',
      tags: ['schedules'],
      auth: true,
      body: scheduleBodySchema,
      responses: { 201: ok('created', scheduleSchema) },
      handler: async ({ tenant, req, reply }) => {
        const s = await createSchedule(temporal, catalog, tenant, parse(scheduleBodySchema, req.body));
        reply.code(201);
        return s;
      },
    },
    {
      method: 'get',
      path: '/v1/schedules/{id}',
      url: '/v1/schedules/:id',
      summary: 'one of your schedules',
      tags: ['schedules'],
      auth: true,
      params: { id: scheduleIdParam },
      responses: { 200: ok('schedule', scheduleSchema) },
      handler: async ({ tenant, req }) => describeSchedule(temporal, tenant, parse(scheduleIdParam, params(req).id, 'id')),
    },
    {
      method: 'delete',
      path: '/v1/schedules/{id}',
      url: '/v1/schedules/:id',
      summary: 'delete one of your schedules',
      tags: ['schedules'],
      auth: true,
      params: { id: scheduleIdParam },
      responses: { 200: ok('deleted', scheduleActionSchema) },
      handler: async ({ tenant, req }) => {
        const id = parse(scheduleIdParam, params(req).id, 'id');
        await scheduleAction(temporal, tenant, id, 'delete');
        return { id, action: 'delete', accepted: true };
      },
    },
    ...scheduleActionDocs,
    {
      method: 'post',
      path: '/v1/schedules/{id}:{action}',
      url: '/v1/schedules/:idAction',
      summary: '(dispatch of the schedule actions above)',
      tags: ['schedules'],
      auth: true,
      responses: { 202: ok('accepted', scheduleActionSchema) },
      handler: async ({ tenant, req, reply }) => {
        const { id: raw, action } = splitAction(params(req).idAction ?? '', SCHEDULE_ACTIONS);
        const id = parse(scheduleIdParam, raw, 'id');
        await scheduleAction(temporal, tenant, id, action);
        reply.code(202);
        return { id, action, accepted: true };
      },
    },
    {
      method: 'get',
      path: '/v1/pools',
      url: '/v1/pools',
      summary: 'per pool: backlog, rates, replicas, desired, forecast',
      tags: ['pools'],
      auth: true,
      responses: { 200: ok('pools', poolListSchema) },
      handler: async () => ({ pools: await describePools(catalog, stats, backpressure, providers) }),
    },
  ];

  // The dispatch routes are implementation detail; the document lists each action on its own path.
  const documented = routes.filter((r) => !r.path.includes(':{action}'));
  const openapi = buildOpenApi(documented, { title: 'Tideway HTTP API', version: '1' });

  const tenantOf = new WeakMap<FastifyRequest, string>();
  const publicUrls = new Set(routes.filter((r) => !r.auth).map((r) => r.url));
  // Auth runs before the body is read, so an unauthenticated client cannot make us parse 1 MiB.
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.url !== undefined && publicUrls.has(req.routeOptions.url)) return;
    const h = req.headers.authorization;
    tenantOf.set(req, authenticate(opts.keys, Array.isArray(h) ? h[0] : h));
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.duration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(async (err, req, reply) => {
    const e = toErrorResponse(err);
    if (e.status >= 500) log.error({ err, url: req.url, method: req.method }, 'request failed');
    if (e.retryAfterSeconds !== undefined) reply.header('Retry-After', String(e.retryAfterSeconds));
    return reply.code(e.status).send(e.body);
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: { type: 'NotFound', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  for (const r of routes) {
    if (!r.url) continue;
    app.route({
      method: r.method.toUpperCase() as 'GET' | 'POST' | 'DELETE',
      url: r.url,
      handler: async (req, reply) => r.handler({ tenant: tenantOf.get(req) ?? '', req, reply }),
    });
  }
  await app.ready();

  return {
    app,
    metrics,
    backpressure,
    stats,
    openapi,
    routes: documented,
    async close() {
      backpressure?.close();
      await app.close();
    },
  };
}
