import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the stand-in downstream behaves. */
export interface LimitedServerOptions {
  /** Requests per second it accepts (token bucket refill rate). */
  capacityRps: number;
  /** Tokens the bucket holds: the burst it absorbs above capacity. @default capacityRps (one second) */
  burst?: number;
  /** How long an accepted request takes to answer, ms (a real service does work). @default 200 */
  latencyMs?: number;
  /** `Retry-After` seconds sent with a 429; undefined sends none. @default 1 */
  retryAfterSeconds?: number | undefined;
}

/** One answered request. */
export interface Hit {
  at: number;
  status: 200 | 429;
}

/** A local HTTP service that answers 429 above a set request rate, recording every request. */
export interface LimitedServer {
  readonly url: string;
  readonly hits: readonly Hit[];
  close(): Promise<void>;
}

/**
 * Starts the rate-limited stand-in on 127.0.0.1 (a free port). Rejections are immediate, as with
 * real rate limiters, so a client that ignores them can send far more than capacity.
 */
export async function startLimitedServer(opts: LimitedServerOptions): Promise<LimitedServer> {
  const burst = opts.burst ?? Math.max(1, opts.capacityRps);
  const latency = opts.latencyMs ?? 200;
  const retryAfter = 'retryAfterSeconds' in opts ? opts.retryAfterSeconds : 1;
  let tokens = burst;
  let last = Date.now();
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * opts.capacityRps);
    last = now;
    if (tokens < 1) {
      hits.push({ at: now, status: 429 });
      res.writeHead(429, { 'content-type': 'text/plain', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
      res.end('slow down');
      return;
    }
    tokens -= 1;
    hits.push({ at: now, status: 200 });
    const t = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    }, latency);
    req.on('close', () => clearTimeout(t));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/work`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Rate and rejection figures of a list of hits. */
export interface HitStats {
  requests: number;
  accepted: number;
  rejected: number;
  /** 429s per 1,000 requests. */
  rejectedPer1000: number;
  /** Accepted requests per second over [from, to). */
  acceptedRps: number;
  /** Requests of any answer per second over [from, to). */
  offeredRps: number;
}

/** Figures for the hits in [from, to) (whole run when omitted). */
export function hitStats(hits: readonly Hit[], from = hits[0]?.at ?? 0, to = (hits.at(-1)?.at ?? 0) + 1): HitStats {
  const inRange = hits.filter((h) => h.at >= from && h.at < to);
  const accepted = inRange.filter((h) => h.status === 200).length;
  const rejected = inRange.length - accepted;
  const seconds = Math.max(0.001, (to - from) / 1000);
  return {
    requests: inRange.length,
    accepted,
    rejected,
    rejectedPer1000: inRange.length ? Math.round((rejected / inRange.length) * 1000) : 0,
    acceptedRps: accepted / seconds,
    offeredRps: inRange.length / seconds,
  };
}
