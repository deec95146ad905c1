import { createHmac, timingSafeEqual } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { loadSettings, parseSecrets } from '../config/settings';
import { NonRetryableError, RetryableError } from './errors';

/**
 * Result callbacks: POST `{taskId, status, result | error}` to the task's `callbackUrl`, signed
 * with HMAC-SHA256 per tenant, refusing addresses inside our own network (SSRF) unless allowlisted.
 * Non-2xx answers throw a retryable error, so Temporal retries delivery with the activity's policy.
 */

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'tideway-signature';

export interface CallbackRequest {
  taskId: string;
  tenant: string;
  url: string;
  payload: { taskId: string; status: string; result?: unknown; error?: unknown };
}

export interface CallbackActivityOptions {
  /** Secret per tenant (`*` applies to tenants without their own). @default the process's settings (TIDEWAY_CALLBACK_SECRETS) */
  secrets?: Readonly<Record<string, string>>;
  /** Hosts, IPs or CIDRs allowed even though they are loopback/private. @default the process's settings (TIDEWAY_CALLBACK_ALLOWLIST) */
  allowlist?: readonly string[];
  /** Per-request timeout in ms. @default 10000 */
  timeoutMs?: number;
  /** Clock for the signature timestamp (tests). @default Date.now */
  now?: () => number;
}

export { parseSecrets };

/** The signature header value for a body at time `t` (unix seconds). */
export function signCallback(secret: string, body: string, t: number): string {
  const mac = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${mac}`;
}

/**
 * Checks a received signature header (for receivers and tests): the MAC matches and the timestamp
 * is within `toleranceSec` of now, so a captured request cannot be replayed later.
 */
export function verifyCallbackSignature(
  secret: string,
  header: string | undefined,
  body: string,
  opts: { toleranceSec?: number; now?: number } = {},
): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.t);
  const v1 = parts.v1;
  if (!Number.isInteger(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  if (Math.abs(now - t) > (opts.toleranceSec ?? 300)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

/** Ranges a callback may not reach by default: loopback, link-local (cloud metadata), private, CGNAT, unspecified. */
function blockedRanges(): BlockList {
  const b = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const) {
    b.addSubnet(net, prefix, 'ipv4');
  }
  for (const [net, prefix] of [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const) {
    b.addSubnet(net, prefix, 'ipv6');
  }
  return b;
}

const BLOCKED = blockedRanges();

/** The 16 bytes of an IPv6 literal (isIP already said it is one). */
function ipv6Bytes(ip: string): number[] {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/**
 * The IPv4 address an IPv6 literal carries, for the forms that reach it: IPv4-mapped (::ffff:0:0/96),
 * IPv4-compatible (::/96, deprecated), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
function embeddedIpv4(ip: string): string | undefined {
  const b = ipv6Bytes(ip);
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12);
  if (zero(0, 12) && !zero(12, 16)) return v4(12);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12);
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2);
  return undefined;
}

/** True when an IP literal lies in a range callbacks may not reach (IPv4 inside IPv6 included). */
export function isBlockedAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return true;
  if (family === 4) return BLOCKED.check(ip, 'ipv4');
  const inner = embeddedIpv4(ip);
  if (inner !== undefined && BLOCKED.check(inner, 'ipv4')) return true;
  return BLOCKED.check(ip, 'ipv6');
}

function allowlistMatcher(entries: readonly string[]): { host(h: string): boolean; ip(ip: string): boolean } {
  const hosts = new Set<string>();
  const list = new BlockList();
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (!e) continue;
    const [net, bits] = e.split('/');
    const fam = isIP(net ?? '');
    if (fam && bits !== undefined) list.addSubnet(net!, Number(bits), fam === 4 ? 'ipv4' : 'ipv6');
    else if (fam) list.addAddress(net!, fam === 4 ? 'ipv4' : 'ipv6');
    else hosts.add(e);
  }
  return {
    host: (h) => hosts.has(h.toLowerCase()),
    ip: (ip) => {
      const fam = isIP(ip);
      return fam !== 0 && list.check(ip, fam === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/** The callback activities the control worker hosts on CALLBACK_TASK_QUEUE. */
export function createCallbackActivities(opts: CallbackActivityOptions = {}) {
  // The environment is read (and checked) only when a caller leaves something out.
  const defaults = opts.secrets === undefined || opts.allowlist === undefined ? loadSettings().callbacks : undefined;
  const secrets = opts.secrets ?? defaults?.secrets ?? {};
  const allow = allowlistMatcher(opts.allowlist ?? defaults?.allowlist ?? []);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const now = opts.now ?? Date.now;

  /**
   * Resolves the host and checks every address before connecting, and the socket connects to the
   * checked address itself, so a DNS answer that changes between check and connect cannot slip by.
   */
  const guardedLookup =
    (hostAllowed: boolean): LookupFunction =>
    (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const list = addresses as LookupAddress[];
        const bad = list.find((a) => isBlockedAddress(a.address) && !hostAllowed && !allow.ip(a.address));
        if (bad)
          return callback(
            new NonRetryableError(
              `callback host ${hostname} resolves to ${bad.address}, a private or loopback address; refused (add it to TIDEWAY_CALLBACK_ALLOWLIST to allow)`,
            ),
            '',
            0,
          );
        const first = list[0];
        if (!first) return callback(new RetryableError(`callback host ${hostname} did not resolve`), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        return callback(null, first.address, first.family);
      });
    };

  return {
    /** POSTs the payload to the task's callback URL; throws NonRetryableError for refused URLs, RetryableError on non-2xx. */
    async deliverCallback(req: CallbackRequest): Promise<{ status: number }> {
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        throw new NonRetryableError(`callbackUrl ${JSON.stringify(req.url)} is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new NonRetryableError(`callbackUrl must be http(s), got ${url.protocol}`);
      if (url.username || url.password) throw new NonRetryableError('callbackUrl must not carry credentials');
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const hostAllowed = allow.host(host);
      // IP literals never reach the lookup function, so check them here.
      if (isIP(host) && isBlockedAddress(host) && !hostAllowed && !allow.ip(host)) {
        throw new NonRetryableError(
          `callbackUrl ${url.origin} is a private or loopback address; refused (add it to TIDEWAY_CALLBACK_ALLOWLIST to allow)`,
        );
      }
      const body = JSON.stringify(req.payload);
      const secret = secrets[req.tenant] ?? secrets['*'];
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'tideway-callback/1',
        'tideway-task-id': req.taskId,
      };
      if (secret) headers[SIGNATURE_HEADER] = signCallback(secret, body, Math.floor(now() / 1000));
      const status = await post(url, headers, body, timeoutMs, guardedLookup(hostAllowed));
      if (status < 200 || status >= 300) throw new RetryableError(`callback to ${url.origin}${url.pathname} answered HTTP ${status}`);
      return { status };
    },
  };
}

function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number, lookup: LookupFunction): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const r = mod.request(url, { method: 'POST', headers, lookup, timeout: timeoutMs }, (res) => {
      // Drain and ignore the body: only the status matters, and redirects are not followed.
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new RetryableError(`callback to ${url.origin} timed out after ${timeoutMs}ms`)));
    r.on('error', reject);
    r.end(body);
  });
}

export type CallbackActivities = ReturnType<typeof createCallbackActivities>;
