import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SIGNATURE_HEADER,
  createCallbackActivities,
  isBlockedAddress,
  parseSecrets,
  signCallback,
  verifyCallbackSignature,
} from '../../activities/callback';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

describe('deliverCallback', () => {
  let server: Server;
  let base: string;
  const received: Received[] = [];
  let answer = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = answer;
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    received.length = 0;
    answer = 200;
  });

  const payload = { taskId: 't-1', status: 'succeeded', result: { n: 1 } };

  it('POSTs the JSON payload with a signature the receiver can verify', async () => {
    const acts = createCallbackActivities({ secrets: { acme: 's3cret' }, allowlist: ['127.0.0.1'] });
    const r = await acts.deliverCallback({ taskId: 't-1', tenant: 'acme', url: `${base}/hook`, payload });
    expect(r.status).toBe(200);
    expect(received).toHaveLength(1);
    const got = received[0]!;
    expect(JSON.parse(got.body)).toEqual(payload);
    expect(got.headers['content-type']).toBe('application/json');
    const sig = got.headers[SIGNATURE_HEADER] as string;
    expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyCallbackSignature('s3cret', sig, got.body)).toBe(true);
    // A wrong secret, a changed body or an old timestamp all fail verification.
    expect(verifyCallbackSignature('other', sig, got.body)).toBe(false);
    expect(verifyCallbackSignature('s3cret', sig, got.body.replace('1', '2'))).toBe(false);
    expect(verifyCallbackSignature('s3cret', sig, got.body, { now: Date.now() + 3_600_000 })).toBe(false);
  });

  it("signs with the tenant's own secret, not another tenant's", async () => {
    const acts = createCallbackActivities({ secrets: parseSecrets('acme=a-secret,globex=g-secret'), allowlist: ['127.0.0.1'] });
    await acts.deliverCallback({ taskId: 't-2', tenant: 'globex', url: `${base}/hook`, payload });
    const got = received[0]!;
    expect(verifyCallbackSignature('g-secret', got.headers[SIGNATURE_HEADER] as string, got.body)).toBe(true);
    expect(verifyCallbackSignature('a-secret', got.headers[SIGNATURE_HEADER] as string, got.body)).toBe(false);
  });

  it('throws a retryable error on a non-2xx answer, so Temporal retries', async () => {
    answer = 503;
    const acts = createCallbackActivities({ secrets: {}, allowlist: ['127.0.0.1'] });
    await expect(acts.deliverCallback({ taskId: 't-3', tenant: 'acme', url: `${base}/hook`, payload })).rejects.toMatchObject({
      type: 'RetryableError',
    });
    expect(received).toHaveLength(1);
  });

  it.each([
    ['loopback IPv4', (p: string) => `http://127.0.0.1:${p}/x`],
    ['localhost name', (p: string) => `http://localhost:${p}/x`],
    ['cloud metadata (link-local)', () => 'http://169.254.169.254/latest/meta-data'],
    ['private 10/8', () => 'http://10.1.2.3/x'],
    ['private 192.168/16', () => 'http://192.168.0.10/x'],
    ['loopback IPv6', (p: string) => `http://[::1]:${p}/x`],
    ['IPv4-mapped IPv6 loopback', (p: string) => `http://[::ffff:127.0.0.1]:${p}/x`],
  ])('refuses %s without contacting it (non-retryable)', async (_name, url) => {
    const port = new URL(base).port;
    const acts = createCallbackActivities({ secrets: {}, allowlist: [] });
    await expect(acts.deliverCallback({ taskId: 't-4', tenant: 'acme', url: url(port), payload })).rejects.toMatchObject({
      type: 'NonRetryableError',
    });
    expect(received).toHaveLength(0);
  });

  it('allows a private host named on the allowlist (by name or CIDR)', async () => {
    const port = new URL(base).port;
    const byName = createCallbackActivities({ secrets: {}, allowlist: ['localhost'] });
    await expect(byName.deliverCallback({ taskId: 't-5', tenant: 'a', url: `http://localhost:${port}/x`, payload })).resolves.toEqual({
      status: 200,
    });
    const byCidr = createCallbackActivities({ secrets: {}, allowlist: ['127.0.0.0/8'] });
    await expect(byCidr.deliverCallback({ taskId: 't-6', tenant: 'a', url: `${base}/x`, payload })).resolves.toEqual({ status: 200 });
    expect(received).toHaveLength(2);
  });

  it('refuses non-http schemes and credentials in the URL', async () => {
    const acts = createCallbackActivities({ secrets: {}, allowlist: ['127.0.0.1'] });
    await expect(acts.deliverCallback({ taskId: 't', tenant: 'a', url: 'file:///etc/passwd', payload })).rejects.toMatchObject({
      type: 'NonRetryableError',
    });
    await expect(acts.deliverCallback({ taskId: 't', tenant: 'a', url: `http://u:p@127.0.0.1:1/`, payload })).rejects.toMatchObject({
      type: 'NonRetryableError',
    });
  });
});

describe('isBlockedAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.0.0.1', true],
    ['172.16.5.4', true],
    ['172.32.0.1', false],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['2606:4700::1111', false],
    ['::ffff:10.0.0.1', true],
    // IPv4 inside IPv6, as URL parsing writes it ([::ffff:127.0.0.1] → ::ffff:7f00:1): judged by the IPv4.
    ['::ffff:7f00:1', true],
    ['::ffff:808:808', false],
    ['::7f00:1', true], // IPv4-compatible (deprecated)
    ['64:ff9b::a9fe:a9fe', true], // NAT64 of 169.254.169.254
    ['64:ff9b::808:808', false],
    ['2002:a00:1::1', true], // 6to4 of 10.0.0.1
    ['2002:808:808::1', false],
    ['not-an-ip', true],
  ])('%s → %s', (ip, blocked) => expect(isBlockedAddress(ip)).toBe(blocked));
});

describe('signCallback', () => {
  it('is HMAC-SHA256 over "<t>.<body>"', () => {
    const h = signCallback('k', '{"a":1}', 1_700_000_000);
    expect(verifyCallbackSignature('k', h, '{"a":1}', { now: 1_700_000_000_000 })).toBe(true);
    expect(h).toBe('t=1700000000,v1=' + createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex'));
  });
});
