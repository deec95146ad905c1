import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Catalog } from '../../config/catalog-schema';
import { createLogger, type Logger } from '../../config/log';
import { DEFAULT_BODY_LIMIT, loadSettings } from '../../config/settings';
import type { AnyTaskClient } from '../task-client';
import { dashboardFileParam, dashboardQuerySchema, dashboardSchema } from '../dashboard/schemas';
import { DashboardFiles } from '../dashboard/static';
import { Dashboard, type DashboardOptions } from '../dashboard/view';
import type { PayloadCodec } from '@temporalio/common';
import { authenticate, type ApiKeyStore } from './auth';
import { registerCodecRoutes } from './codec';
import { Backpressure, QueueStatsReader, type BackpressureOptions } from './backpressure';
import { describeBatch, startBatch } from './batches';
import { BadRequestError, toErrorResponse } from './errors';
import { ApiMetrics } from './metrics';
import { buildOpenApi } from './openapi';
import { admissionView, describePools, type PoolInfoProvider } from './pools';
import { fastifyUrl, ok, route, validatorCompiler, type Route } from './route';
import { createSchedule, describeSchedule, listSchedules, scheduleAction } from './schedules';
import {
  actionResultSchema,
  batchBodySchema,
  batchIdParam,
  batchStartedSchema,
  batchStatusSchema,
  BULK_BODY_LIMIT,
  bulkAcceptedSchema,
  bulkBodySchema,
  bulkCancelledSchema,
  bulkIdParam,
  bulkStatusSchema,
  healthSchema,
  listQuerySchema,
  listResultSchema,
  noBodySchema,
  poolListSchema,
  redriveBodySchema,
  scheduleActionSchema,
  scheduleBodySchema,
  scheduleIdParam,
  scheduleListSchema,
  scheduleSchema,
  submitBodySchema,
  submitResultSchema,
  TASK_ACTIONS,
  taskIdParam,
  taskLogsQuerySchema,
  taskLogsSchema,
  taskRefParam,
  taskStateSchema,
  SCHEDULE_ACTIONS,
} from './schemas';
import { INVALID_JSON_LINE, TenantTasks } from './tasks';

/** Default largest request body: 1 MiB (TIDEWAY_BODY_LIMIT's default). */
export { DEFAULT_BODY_LIMIT };

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
  /** Serve this payload codec at `/codec/*` (api/http/codec.ts) for the Web UI and CLI. @default not served */
  codec?: { codec: PayloadCodec; corsOrigins: readonly string[] };
  /** Structured log for decisions (throttling); fastify's own request log stays off. @default at TIDEWAY_LOG_LEVEL */
  logger?: Logger;
  /**
   * The dashboard at `/`: Web UI link, objective, and the pool history it samples every 10 s. Given
   * (startApiServer always gives it), the server samples from the start; absent, the page works
   * with no history, and a server built only for a test never calls Temporal on its own.
   * @default no sampling, no Web UI link
   */
  dashboard?: DashboardOptions;
}

/** A built (not yet listening) API server and the parts tests and the bench poke at. */
export interface ApiServer {
  app: FastifyInstance;
  metrics: ApiMetrics;
  backpressure: Backpressure | undefined;
  stats: QueueStatsReader;
  openapi: Record<string, unknown>;
  routes: readonly Route[];
  dashboard: Dashboard;
  close(): Promise<void>;
}

/** Builds the fastify app with every route of the public contract; call `app.listen` to serve. */
export async function buildApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const catalog = opts.catalog ?? (opts.client.catalog as unknown as Catalog);
  const log = opts.logger ?? createLogger('api', loadSettings().logLevel);
  const temporal = opts.client.temporal;
  const metrics = new ApiMetrics();
  metrics.watchAdmission(opts.client.admission);
  const stats = new QueueStatsReader(temporal, opts.backpressure ? (opts.backpressure.statsTtlMs ?? 1_000) : 1_000);
  const backpressure =
    opts.backpressure === false
      ? undefined
      : // Its refusals are counted with every other 429 where answers are (onResponse below).
        new Backpressure(temporal, stats, opts.backpressure ?? {}, log);
  const tasks = new TenantTasks(opts.client, catalog, backpressure, (tenant, outcome) => metrics.submits.inc({ tenant, outcome }));
  const providers = opts.poolProviders ?? [];
  const pools = () => describePools(catalog, stats, backpressure, providers);
  const admission = () => admissionView(opts.client.admission);
  const dashboard = new Dashboard({ client: opts.client, catalog, pools, admission, logger: log }, opts.dashboard ?? {});
  const pageFiles = new DashboardFiles();

  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    logger: false,
    routerOptions: { maxParamLength: 2048 },
    // Errors fastify's router raises before any route runs (a badly percent-encoded URL, a too long
    // parameter) get the same error shape as everything else, not fastify's own.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const { status, body } = toErrorResponse(err);
      void reply.code(status).type('application/json').send(body);
    },
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
  const taskParams = z.object({ id: taskRefParam });
  const scheduleParams = z.object({ id: scheduleIdParam });
  const routes: Route[] = [
    route({
      method: 'get',
      path: '/healthz',
      summary: 'liveness and Temporal reachability',
      tags: ['system'],
      auth: false,
      schema: {},
      responses: { 200: ok('up', healthSchema), 503: ok('Temporal unreachable', healthSchema) },
      handler: async ({ reply }) => {
        try {
          await temporal.workflowService.getSystemInfo({});
          return { ok: true, temporal: 'up' as const };
        } catch {
          reply.code(503);
          return { ok: false, temporal: 'down' as const };
        }
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tags: ['system'],
      auth: true,
      schema: {},
      responses: { 200: ok('metrics in Prometheus text format', 'text') },
      handler: async ({ reply }) => {
        reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    }),
    route({
      method: 'get',
      path: '/openapi.json',
      summary: 'this document',
      tags: ['system'],
      auth: true,
      schema: {},
      responses: { 200: ok('OpenAPI 3.1 document') },
      handler: async () => openapi,
    }),
    route({
      method: 'post',
      path: '/v1/tasks',
      summary: 'submit a task',
      tags: ['tasks'],
      auth: true,
      schema: {
        body: submitBodySchema,
        headers: z.object({ 'Idempotency-Key': taskIdParam.optional().describe('task ID for dedupe (same as body taskId)') }),
      },
      responses: { 201: ok('started', submitResultSchema), 200: ok('duplicate: the existing task, nothing started', submitResultSchema) },
      handler: async ({ tenant, req, reply }) => {
        // Node lower-cases header names; the headers schema checked this one is a task ID.
        const r = await tasks.submit(tenant, req.body, req.headers['idempotency-key'] as string | undefined);
        reply.code(r.duplicate ? 200 : 201);
        if (r.duplicate) return r;
        // A started task says only what a flow mode did besides starting it (replaced, debounced).
        return {
          taskId: r.taskId,
          status: r.status,
          ...(r.replaced ? { replaced: r.replaced } : {}),
          ...(r.debounce ? { debounce: r.debounce } : {}),
        };
      },
    }),
    route({
      method: 'post',
      path: '/v1/tasks:bulk',
      summary: 'hand over up to 100,000 tasks (JSON or NDJSON); accepted durably at once, started at the admitted rate',
      tags: ['bulk'],
      auth: true,
      bodyLimit: BULK_BODY_LIMIT,
      schema: {
        body: bulkBodySchema,
        headers: z.object({
          'Idempotency-Key': bulkIdParam.optional().describe('bulk ID (same as body bulkId): a retry accepts nothing twice'),
        }),
      },
      responses: { 202: ok('accepted (per-item errors for the rejected items)', bulkAcceptedSchema) },
      handler: async ({ tenant, req, reply }) => {
        const key = req.headers['idempotency-key'] as string | undefined;
        if (key !== undefined && req.body.bulkId !== undefined && key !== req.body.bulkId) {
          throw new BadRequestError([{ path: 'bulkId', message: 'bulkId and the Idempotency-Key header differ' }]);
        }
        const r = await tasks.submitBulk(tenant, req.body.tasks, req.body.bulkId ?? key);
        reply.code(202);
        return r;
      },
    }),
    route({
      method: 'get',
      path: '/v1/bulk/{id}',
      summary: "a bulk's progress: accepted, started, duplicate, failed, cancelled",
      tags: ['bulk'],
      auth: true,
      schema: { params: z.object({ id: bulkIdParam }) },
      responses: { 200: ok('progress', bulkStatusSchema) },
      handler: async ({ tenant, req }) => tasks.bulkStatus(tenant, req.params.id),
    }),
    route({
      method: 'post',
      path: '/v1/bulk/{id}:cancel',
      summary: 'stop a bulk: its tasks not started yet never start; started unfinished ones are cancelled',
      tags: ['bulk'],
      auth: true,
      schema: { params: z.object({ id: bulkIdParam }), body: noBodySchema },
      responses: { 202: ok('stopping', bulkCancelledSchema) },
      handler: async ({ tenant, req, reply }) => {
        const r = await tasks.cancelBulk(tenant, req.params.id);
        reply.code(202);
        return r;
      },
    }),
    route({
      method: 'get',
      path: '/v1/tasks',
      summary: 'list your tasks',
      tags: ['tasks'],
      auth: true,
      schema: { querystring: listQuerySchema },
      responses: { 200: ok('one page', listResultSchema) },
      handler: async ({ tenant, req }) => tasks.list(tenant, req.query),
    }),
    route({
      method: 'get',
      path: '/v1/tasks/{id}',
      summary: "a task's state",
      tags: ['tasks'],
      auth: true,
      schema: { params: taskParams },
      responses: { 200: ok('state', taskStateSchema) },
      handler: async ({ tenant, req }) => tasks.get(tenant, req.params.id),
    }),
    route({
      method: 'get',
      path: '/v1/tasks/{id}/logs',
      summary: "a task's log lines (ctx.log), oldest first across attempts and workers; page with `after`",
      tags: ['tasks'],
      auth: true,
      schema: { params: taskParams, querystring: taskLogsQuerySchema },
      responses: { 200: ok('lines', taskLogsSchema) },
      handler: async ({ tenant, req }) => tasks.logs(tenant, req.params.id, req.query),
    }),
    ...TASK_ACTIONS.map((action) =>
      route({
        method: 'post',
        path: `/v1/tasks/{id}:${action}`,
        summary: `${action} one task${action === 'redrive' ? ' (dead-lettered, optional body {lane}; or a batch: its failed shards)' : ''}`,
        tags: ['tasks'],
        auth: true,
        schema: { params: taskParams, body: action === 'redrive' ? redriveBodySchema : noBodySchema },
        responses: { 202: ok('accepted', actionResultSchema) },
        handler: async ({ tenant, req, reply }) => {
          const done = await tasks.act(tenant, req.params.id, action, req.body ?? {});
          reply.code(202);
          return { taskId: req.params.id, action, accepted: true as const, ...done };
        },
      }),
    ),
    route({
      method: 'post',
      path: '/v1/batches',
      summary: 'pause/resume/cancel/redrive all your tasks matching a filter',
      tags: ['batches'],
      auth: true,
      schema: { body: batchBodySchema },
      responses: { 202: ok('started', batchStartedSchema) },
      handler: async ({ tenant, req, reply }) => {
        const r = await startBatch(temporal, tenant, req.body, catalog.controlQueue);
        reply.code(202);
        return r;
      },
    }),
    route({
      method: 'get',
      path: '/v1/batches/{id}',
      summary: 'progress of one of your batches',
      tags: ['batches'],
      auth: true,
      schema: { params: z.object({ id: batchIdParam }) },
      responses: { 200: ok('progress', batchStatusSchema) },
      handler: async ({ tenant, req }) => describeBatch(temporal, tenant, req.params.id),
    }),
    route({
      method: 'get',
      path: '/v1/schedules',
      summary: 'your schedules with next fire times',
      tags: ['schedules'],
      auth: true,
      schema: {},
      responses: { 200: ok('schedules', scheduleListSchema) },
      handler: async ({ tenant }) => ({ schedules: await listSchedules(temporal, tenant) }),
    }),
    route({
      method: 'post',
      path: '/v1/schedules',
      summary: 'create a cron task',
      tags: ['schedules'],
      auth: true,
      schema: { body: scheduleBodySchema },
      responses: { 201: ok('created', scheduleSchema) },
      handler: async ({ tenant, req, reply }) => {
        const s = await createSchedule(temporal, catalog, tenant, req.body);
        reply.code(201);
        return s;
      },
    }),
    route({
      method: 'get',
      path: '/v1/schedules/{id}',
      summary: 'one of your schedules',
      tags: ['schedules'],
      auth: true,
      schema: { params: scheduleParams },
      responses: { 200: ok('schedule', scheduleSchema) },
      handler: async ({ tenant, req }) => describeSchedule(temporal, tenant, req.params.id),
    }),
    route({
      method: 'delete',
      path: '/v1/schedules/{id}',
      summary: 'delete one of your schedules',
      tags: ['schedules'],
      auth: true,
      schema: { params: scheduleParams },
      responses: { 200: ok('deleted', scheduleActionSchema) },
      handler: async ({ tenant, req }) => {
        await scheduleAction(temporal, tenant, req.params.id, 'delete');
        return { id: req.params.id, action: 'delete' as const, accepted: true as const };
      },
    }),
    ...SCHEDULE_ACTIONS.map((action) =>
      route({
        method: 'post',
        path: `/v1/schedules/{id}:${action}`,
        summary: `${action} one of your schedules`,
        tags: ['schedules'],
        auth: true,
        schema: { params: scheduleParams },
        responses: { 202: ok('accepted', scheduleActionSchema) },
        handler: async ({ tenant, req, reply }) => {
          await scheduleAction(temporal, tenant, req.params.id, action);
          reply.code(202);
          return { id: req.params.id, action, accepted: true as const };
        },
      }),
    ),
    route({
      method: 'get',
      path: '/v1/pools',
      summary: "per pool: backlog, rates, replicas, desired, forecast; this API's lane admission rates",
      tags: ['pools'],
      auth: true,
      schema: {},
      responses: { 200: ok('pools', poolListSchema) },
      handler: async () => ({ pools: await pools(), admission: admission() }),
    }),
    route({
      method: 'get',
      path: '/',
      summary: 'the dashboard page (it asks for an API key and calls the routes below with it)',
      tags: ['dashboard'],
      auth: false,
      schema: {},
      responses: { 200: ok('HTML page') },
      handler: async ({ reply }) => sendFile(reply, pageFiles.get('index.html')),
    }),
    route({
      method: 'get',
      path: '/dashboard/{file}',
      summary: "the dashboard page's script, style sheet and ECharts",
      tags: ['dashboard'],
      auth: false,
      schema: { params: z.object({ file: dashboardFileParam }) },
      responses: { 200: ok('static file') },
      handler: async ({ req, reply }) => sendFile(reply, pageFiles.get(req.params.file)),
    }),
    route({
      method: 'get',
      path: '/v1/dashboard',
      summary:
        'what the dashboard draws: pools now and over the last hour, the 24 h forecast, your dead letters, running batches and bulks',
      tags: ['dashboard'],
      auth: true,
      schema: { querystring: dashboardQuerySchema },
      responses: { 200: ok('dashboard data', dashboardSchema) },
      handler: async ({ tenant, req }) => dashboard.view(tenant, req.query),
    }),
  ];
  const openapi = buildOpenApi(routes, { title: 'Tideway HTTP API', version: '1' });

  const tenantOf = new WeakMap<FastifyRequest, string>();
  // The codec routes check the key themselves: it may come in the path, and preflights carry none.
  const codecUrls = opts.codec ? registerCodecRoutes(app, { ...opts.codec, keys: opts.keys }) : [];
  const publicUrls = new Set([...routes.filter((r) => !r.auth).map((r) => fastifyUrl(r.path)), ...codecUrls]);
  // Auth runs before the body is read, so an unauthenticated client cannot make us parse 1 MiB.
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.url !== undefined && publicUrls.has(req.routeOptions.url)) return;
    const h = req.headers.authorization;
    tenantOf.set(req, authenticate(opts.keys, Array.isArray(h) ? h[0] : h));
  });
  // What the error handler answered, for the error counters (a 404 of no route never gets there).
  const errorOf = new WeakMap<FastifyRequest, { type: string; reason?: string }>();
  app.addHook('onResponse', async (req, reply) => {
    const url = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.requests.inc({ route: url, method: req.method, status: String(status) });
    metrics.duration.observe({ route: url, method: req.method }, reply.elapsedTime / 1000);
    if (status >= 400)
      metrics.answeredError(tenantOf.get(req), status, errorOf.get(req) ?? { type: status === 404 ? 'NotFound' : 'Error' });
  });
  app.setErrorHandler(async (err, req, reply) => {
    const e = toErrorResponse(err);
    const details = e.body.error.details as { reason?: unknown } | undefined;
    errorOf.set(req, { type: e.body.error.type, ...(typeof details?.reason === 'string' ? { reason: details.reason } : {}) });
    if (e.status >= 500) log.error({ err, url: req.url, method: req.method }, 'request failed');
    if (e.retryAfterSeconds !== undefined) reply.header('Retry-After', String(e.retryAfterSeconds));
    return reply.code(e.status).send(e.body);
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: { type: 'NotFound', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  // NDJSON bulk bodies: one task per line, parsed into the JSON body's shape. A line that is not JSON
  // becomes an item that fails validation with its line number, so it is reported, never dropped.
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'string', bodyLimit: BULK_BODY_LIMIT }, (_req, body, done) => {
    const tasks: unknown[] = [];
    String(body)
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() === '') return;
        try {
          tasks.push(JSON.parse(line));
        } catch (err) {
          tasks.push({ [INVALID_JSON_LINE]: `line ${i + 1} is not JSON: ${(err as Error).message}` });
        }
      });
    done(null, { tasks });
  });

  app.setValidatorCompiler(validatorCompiler);
  for (const r of routes) {
    app.route({
      method: r.method.toUpperCase() as 'GET' | 'POST' | 'DELETE',
      url: fastifyUrl(r.path),
      schema: r.schema,
      ...(r.bodyLimit !== undefined ? { bodyLimit: r.bodyLimit } : {}),
      handler: async (req, reply) => r.handler({ tenant: tenantOf.get(req) ?? '', req, reply }),
    });
  }
  await app.ready();
  if (opts.dashboard) dashboard.start();

  return {
    app,
    metrics,
    backpressure,
    stats,
    openapi,
    routes,
    dashboard,
    async close() {
      backpressure?.close();
      await dashboard.close();
      await app.close();
    },
  };
}

/** Answers a dashboard file; returning the reply tells fastify the answer is sent. */
function sendFile(reply: FastifyReply, f: { body: Buffer; contentType: string; cacheControl: string }): FastifyReply {
  return reply.type(f.contentType).header('cache-control', f.cacheControl).send(f.body);
}
