import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authenticate, type ApiKeyStore } from './auth';
import { BadRequestError, HttpError, toErrorResponse } from './errors';
import { issuesOf } from './schemas';

/**
 * Temporal's remote codec protocol served by the API, so the Web UI and `temporal workflow show`
 * show decrypted payloads: `POST /codec/decode` and `/codec/encode` with
 * `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }` in and out.
 *
 * Only callers with an API key (any tenant) may use it: `Authorization: Bearer <key>` (the CLI's
 * `--codec-auth`), or the key as the path segment before `/decode` (`/codec/<key>/decode`), for the
 * Web UI, which sends no header of our choosing without its own login. Browsers get the CORS answers
 * the Web UI needs from the allowed origins only.
 */

/** Largest codec request: a Web UI page of history can hold many payloads. */
export const CODEC_BODY_LIMIT = 8 * 1024 * 1024;
/** Payloads in one request at most. */
const MAX_PAYLOADS = 10_000;

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'not base64');
/** A payload in protobuf JSON (bytes as base64). */
const jsonPayload = z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() });
const codecBody = z.object({ payloads: z.array(jsonPayload).max(MAX_PAYLOADS) });
type JsonPayload = z.output<typeof jsonPayload>;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** Thrown when a browser calls the codec endpoint from an origin not in TIDEWAY_CODEC_CORS_ORIGINS. */
export class OriginNotAllowedError extends HttpError {
  readonly type = 'OriginNotAllowed';
  readonly status = 403;
}

/** Codec errors the caller caused (an unknown key ID, a payload that does not decrypt): 400 with their own `type`. */
const CALLER_ERRORS = new Set(['UnknownEncryptionKey', 'PayloadDecryptionError']);

export interface CodecRouteOptions {
  codec: PayloadCodec;
  keys: ApiKeyStore;
  /** Origins answered cross-origin (`*`: any). */
  corsOrigins: readonly string[];
}

/** Registers `/codec/{encode,decode}` (and their `/codec/<key>/…` form and CORS preflights); returns the URLs, which do their own auth. */
export function registerCodecRoutes(app: FastifyInstance, opts: CodecRouteOptions): string[] {
  const anyOrigin = opts.corsOrigins.includes('*');
  const cors = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser's cross-origin call
    if (!anyOrigin && !opts.corsOrigins.includes(origin)) return false;
    void reply
      .header('Access-Control-Allow-Origin', anyOrigin ? '*' : origin)
      .header('Vary', 'Origin')
      .header('Access-Control-Allow-Methods', 'POST, OPTIONS')
      .header('Access-Control-Allow-Headers', 'authorization, content-type, x-namespace')
      .header('Access-Control-Max-Age', '600');
    // The Web UI's "include cross-origin credentials"; a wildcard origin may not carry them.
    if (!anyOrigin) void reply.header('Access-Control-Allow-Credentials', 'true');
    return true;
  };
  const fail = (reply: FastifyReply, err: unknown) => {
    const type = (err as { type?: unknown }).type;
    const e =
      typeof type === 'string' && CALLER_ERRORS.has(type)
        ? { status: 400, body: { error: { type, message: (err as Error).message } } }
        : toErrorResponse(err);
    // Answered here, never by the server's error handler, which would log the URL (it may hold a key).
    return reply.code(e.status).type('application/json').send(e.body);
  };

  const urls: string[] = [];
  for (const op of ['encode', 'decode'] as const) {
    for (const url of [`/codec/${op}`, `/codec/:key/${op}`]) {
      urls.push(url);
      app.options(url, async (req, reply) => {
        if (!cors(req, reply))
          return fail(reply, new OriginNotAllowedError(`origin ${req.headers.origin} may not call the codec endpoint`));
        return reply.code(204).send();
      });
      app.post(url, { bodyLimit: CODEC_BODY_LIMIT }, async (req, reply) => {
        try {
          if (!cors(req, reply)) throw new OriginNotAllowedError(`origin ${req.headers.origin} may not call the codec endpoint`);
          const pathKey = (req.params as { key?: string }).key;
          authenticate(opts.keys, pathKey !== undefined ? `Bearer ${pathKey}` : req.headers.authorization);
          const body = codecBody.safeParse(req.body);
          if (!body.success) throw new BadRequestError(issuesOf(body.error));
          const payloads = body.data.payloads.map(fromJson);
          const out = op === 'decode' ? await opts.codec.decode(payloads) : await opts.codec.encode(payloads);
          return reply.type('application/json').send({ payloads: out.map(toJson) });
        } catch (err) {
          return fail(reply, err);
        }
      });
    }
  }
  return urls;
}
