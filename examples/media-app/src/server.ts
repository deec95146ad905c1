import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { loadProject, securityOptions, TaskClient, type TaskState } from 'tideway';
import { thumbnailInput, type ThumbnailInput, type ThumbnailOutput } from './catalog';
import { thumbnailTaskId } from './thumbnail';

/**
 * The media app's own HTTP endpoint: it accepts thumbnail requests and hands them to Tideway.
 *
 *   POST /thumbnails {"url":"https://...png","width":256}  → 202 {"taskId":"thumb-…","status":"queued","duplicate":false}
 *   GET  /thumbnails/:taskId                                → 200 {"taskId", "status", "attempts", "result"?, "error"?}
 *
 * The request is validated with the task's own input schema before anything is submitted, and the
 * task ID is derived from (url, width): asking twice for the same thumbnail runs one task.
 *
 * Run it beside `npx tideway dev` (npm start does both). It reads tideway.config.ts like every
 * Tideway process, so it talks to the same Temporal server and the media-app queues.
 * Env: MEDIA_APP_PORT (default 3000; 0 = a free port), MEDIA_APP_HOST (default 127.0.0.1).
 */

/** The tenant the app's tasks belong to (the same tenant its Tideway API key maps to). */
const TENANT = 'media-app';

const MAX_BODY_BYTES = 16 * 1024;
const TASK_ID = /^thumb-[0-9a-f]{24}$/;

/** What `GET /thumbnails/:id` answers. */
export interface ThumbnailStatus {
  taskId: string;
  status: TaskState['status'];
  attempts: number;
  result?: ThumbnailOutput;
  error?: { type: string; class: string; message: string };
  submittedAt: string;
  finishedAt?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new HttpError(415, 'UnsupportedMediaType', 'send the body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'PayloadTooLarge', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'BadRequest', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Validates a thumbnail request, or throws a 400 naming every bad field. */
function parseRequest(body: unknown): ThumbnailInput {
  const r = thumbnailInput.safeParse(body);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
  throw new HttpError(
    400,
    'ValidationError',
    `invalid thumbnail request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  );
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** `TaskNotFound` from any copy of Tideway's module (errors carry a stable `type`). */
function isNotFound(err: unknown): boolean {
  return (err as { type?: unknown } | null)?.type === 'TaskNotFound';
}

/** The app's request handler over a typed TaskClient. */
function thumbnailRoutes(tasks: TaskClient) {
  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const input = parseRequest(await readJson(req));
    const taskId = thumbnailTaskId(input.url, input.width);
    // Typed by the registered catalog: a wrong type name or input shape does not compile.
    const { status, duplicate } = await tasks.submit('media.thumbnail', input, { taskId, tenant: TENANT });
    send(res, 202, { taskId, status, duplicate }, { location: `/thumbnails/${taskId}` });
  }

  async function status(taskId: string, res: ServerResponse): Promise<void> {
    const notFound = new HttpError(404, 'NotFound', `no thumbnail task ${JSON.stringify(taskId)}`);
    if (!TASK_ID.test(taskId)) throw notFound;
    let state: TaskState;
    try {
      state = await tasks.get(taskId);
    } catch (err) {
      if (isNotFound(err)) throw notFound;
      throw err;
    }
    if (state.type !== 'media.thumbnail') throw notFound;
    const body: ThumbnailStatus = {
      taskId,
      status: state.status,
      attempts: state.attempts,
      ...(state.status === 'succeeded' ? { result: state.result as ThumbnailOutput } : {}),
      ...(state.lastError ? { error: { type: state.lastError.type, class: state.lastError.class, message: state.lastError.message } } : {}),
      submittedAt: state.timestamps.submittedAt,
      ...(state.timestamps.finishedAt ? { finishedAt: state.timestamps.finishedAt } : {}),
    };
    send(res, 200, body);
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    try {
      if (path === '/healthz' && req.method === 'GET') return send(res, 200, { ok: true });
      if (path === '/thumbnails') {
        if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'use POST /thumbnails');
        return await submit(req, res);
      }
      const m = /^\/thumbnails\/([^/]+)$/.exec(path);
      if (m) {
        if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', 'use GET /thumbnails/:taskId');
        return await status(decodeURIComponent(m[1]!), res);
      }
      throw new HttpError(404, 'NotFound', `no route ${req.method} ${path}`);
    } catch (err) {
      if (err instanceof HttpError) {
        return send(res, err.status, { error: { type: err.type, message: err.message, ...(err.issues ? { issues: err.issues } : {}) } });
      }
      process.stderr.write(`media-app: ${req.method} ${path} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      const type = (err as { type?: unknown } | null)?.type;
      // The lane's start budget is used up (AdmissionThrottled): ask the caller to come back.
      if (type === 'AdmissionThrottled')
        return send(res, 429, { error: { type, message: (err as Error).message } }, { 'retry-after': '1' });
      return send(res, 500, { error: { type: 'Internal', message: 'could not reach Tideway; see the server log' } });
    }
  };
}

/** Starts the endpoint: loads the project, connects a typed TaskClient, listens. */
async function startServer(opts: { port?: number; host?: string } = {}): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  // The same project every Tideway process loads: catalog (typed through `Register`), app name,
  // Temporal address and TLS settings, from tideway.config.ts under the environment.
  const project = await loadProject();
  const s = project.settings;
  const tasks = await TaskClient.connect({
    catalog: project.catalog,
    // No TEMPORAL_ADDRESS: the dev server `tideway dev` starts (TIDEWAY_TEMPORAL_PORT, default 7233).
    address: s.temporalAddress ?? `127.0.0.1:${s.temporalPort}`,
    namespace: s.namespace,
    connection: securityOptions(s),
  });
  const routes = thumbnailRoutes(tasks);
  const server = createServer((req, res) => void routes(req, res));
  const host = opts.host ?? process.env.MEDIA_APP_HOST ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? Number(process.env.MEDIA_APP_PORT ?? 3000), host, resolve);
  });
  const addr = server.address();
  const url = `http://${host}:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await tasks.close();
    },
  };
}

/** This file is a program: `npm run server` (jiti src/server.ts). */
async function main(): Promise<void> {
  const app = await startServer();
  process.stdout.write(`media-app listening on ${app.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`media-app: ${signal}, stopping\n`);
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`media-app: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
