import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, verifyCallbackSignature } from '../../activities/callback';
import { startStack, uniqueId, waitFor, expectNoLeakedWorkers, type Stack } from '../helpers/stack';

jest.setTimeout(60_000);

interface Received {
  body: string;
  signature: string | undefined;
}

let stack: Stack;
let server: Server;
let url: string;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body, signature: req.headers[SIGNATURE_HEADER] as string | undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  // The receiver is on loopback, which callbacks refuse unless allowlisted.
  stack = await startStack({
    pools: [['demo', 'normal']],
    env: { TIDEWAY_CALLBACK_ALLOWLIST: '127.0.0.1', TIDEWAY_CALLBACK_SECRETS: 'acme=s3cret' },
  });
});
afterAll(async () => {
  await stack.stop();
  await new Promise((r) => server.close(r));
  expectNoLeakedWorkers();
});

function bodiesFor(taskId: string): Record<string, unknown>[] {
  return received.map((r) => JSON.parse(r.body) as Record<string, unknown>).filter((b) => b.taskId === taskId);
}

test('on success the callback URL gets a signed POST with the result', async () => {
  const id = uniqueId('cb-ok');
  await stack.client.submit('demo.echo', { n: 7 }, { taskId: id, tenant: 'acme', callbackUrl: url });
  await stack.client.result(id);
  const [body] = bodiesFor(id);
  expect(body).toEqual({ taskId: id, status: 'succeeded', result: { n: 7 } });
  const raw = received.find((r) => r.body.includes(id))!;
  expect(verifyCallbackSignature('s3cret', raw.signature, raw.body)).toBe(true);
  expect(verifyCallbackSignature('wrong', raw.signature, raw.body)).toBe(false);
});

test('on dead-letter the callback carries the error', async () => {
  const id = uniqueId('cb-dl');
  await stack.client.submit('demo.fail', { errorClass: 'non_retryable', times: 1 }, { taskId: id, tenant: 'acme', callbackUrl: url });
  const body = await waitFor(() => bodiesFor(id)[0]);
  expect(body).toMatchObject({ taskId: id, status: 'dead_lettered', error: { type: 'NonRetryableError', class: 'non_retryable' } });
  await stack.client.discard(id);
});

test('a callback to a private address that is not allowlisted is refused without retries; the task still succeeds', async () => {
  const id = uniqueId('cb-ssrf');
  await stack.client.submit('demo.echo', 1, { taskId: id, callbackUrl: 'http://10.255.255.1/hook' });
  await expect(stack.client.result(id)).resolves.toBe(1);
  const history = await stack.client.handle(id).fetchHistory();
  const failed = (history.events ?? []).find((e) => e.activityTaskFailedEventAttributes);
  expect(failed?.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo).toMatchObject({
    type: 'NonRetryableError',
    nonRetryable: true,
  });
  expect(failed?.activityTaskFailedEventAttributes?.failure?.message).toMatch(/private or loopback/);
});
