import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { TaskClient } from '../../api/task-client';
import { loadProject } from '../../config/load';
import { ensureTemporal } from '../../temporal';
import { securityOptions } from '../../temporal/connection';
import { makeCertificates } from '../helpers/certs';
import { expectNoLeakedWorkers, startStack, testAddress, uniqueId, type Stack } from '../helpers/stack';

/**
 * mTLS to Temporal end to end, with real parts: a throwaway CA, server and client certificates
 * made by openssl; a TLS-terminating proxy (Node's tls server, client certificate required) in
 * front of the dev server's plaintext gRPC port; a project config naming the proxy and the mTLS
 * files; a control worker and a demo pool (Rust core, NativeConnection) and a TaskClient (grpc-js)
 * that reach Temporal only through the proxy. A client without a certificate is turned away.
 */
jest.setTimeout(180_000);

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

let dir: string;
let configFile: string;
let proxy: TlsServer | undefined;
let proxyAddress: string;
/** Connections that completed the TLS handshake with a client certificate the CA signed. */
const accepted: { cn: string }[] = [];
/** TLS handshakes the proxy refused (no or bad client certificate). */
const refused: string[] = [];
const sockets = new Set<Socket>();
let stack: Stack | undefined;
let client: TaskClient | undefined;

/** Without TEMPORAL_* from the caller's environment: the config file alone decides (environment wins). */
function configOnlyEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

/** The TLS proxy: terminates mTLS and pipes each decrypted stream to the dev server's plaintext port (h2c). */
async function startProxy(): Promise<string> {
  const [upstreamHost, upstreamPort] = splitAddress(testAddress());
  const file = (f: string) => readFileSync(join(dir, f));
  proxy = createTlsServer(
    {
      key: file('server.key'),
      cert: file('server.crt'),
      ca: file('ca.crt'),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket: TLSSocket) => {
      const subject = socket.getPeerCertificate().subject as { CN?: string } | undefined;
      accepted.push({ cn: subject?.CN ?? '' });
      const upstream = netConnect(upstreamPort, upstreamHost);
      sockets.add(socket);
      sockets.add(upstream);
      const end = () => {
        socket.destroy();
        upstream.destroy();
        sockets.delete(socket);
        sockets.delete(upstream);
      };
      socket.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      socket.pipe(upstream).pipe(socket);
    },
  );
  proxy.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((resolve, reject) => {
    proxy!.once('error', reject);
    proxy!.listen(0, '127.0.0.1', () => resolve());
  });
  return `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

function splitAddress(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i), Number(a.slice(i + 1))];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tideway-tls-'));
  await makeCertificates(dir, 'tideway-test');
  proxyAddress = await startProxy();
  configFile = join(dir, 'tideway.config.ts');
  // Relative TLS paths: the config resolves them against its own folder.
  writeFileSync(
    configFile,
    `import { catalog } from ${JSON.stringify(join(ROOT, 'examples', 'demo', 'catalog'))};

export default {
  app: 'tls',
  catalog,
  handlers: { demo: () => import(${JSON.stringify(join(ROOT, 'examples', 'demo', 'handlers'))}) },
  temporal: {
    address: '${proxyAddress}',
    tls: { cert: './client.crt', key: './client.key', ca: './ca.crt', serverName: 'localhost' },
  },
  logLevel: 'warn' as const,
};
`,
  );
});

afterAll(async () => {
  await client?.close();
  await stack?.stop();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  expectNoLeakedWorkers();
});

test('`tideway config check` shows the TLS files, resolved against the config folder', async () => {
  const { stdout } = await run(process.execPath, [join(ROOT, 'bin', 'tideway.js'), '--config', configFile, 'config', 'check', '--json'], {
    env: configOnlyEnv(),
  });
  const out = JSON.parse(stdout) as { app: string; temporal: { address: string; tls: unknown } };
  expect(out.app).toBe('tls');
  expect(out.temporal.address).toBe(proxyAddress);
  expect(out.temporal.tls).toEqual({
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    ca: join(dir, 'ca.crt'),
    serverName: 'localhost',
  });
});

test('workers (Rust core) and a TaskClient (grpc-js) run a task over mTLS through the proxy', async () => {
  const project = await loadProject({ config: configFile, env: configOnlyEnv() });
  expect(project.settings.temporalAddress).toBe(proxyAddress);
  stack = await startStack({
    config: configFile,
    address: proxyAddress,
    pools: [['demo', 'normal']],
    // The stack's own client connection; the workers take their TLS from the config file.
    connection: securityOptions(project.settings),
  });
  // The control worker and the pool polled through the proxy: each one's connection was mTLS.
  const fromWorkers = accepted.length;
  expect(fromWorkers).toBeGreaterThanOrEqual(2);
  expect(accepted.every((c) => c.cn === 'tideway-test-client')).toBe(true);

  client = await TaskClient.fromConfig({ config: configFile, env: configOnlyEnv() });
  expect(accepted.length).toBeGreaterThan(fromWorkers);
  const id = uniqueId('tls-echo');
  await client.submit('demo.echo', { over: 'mtls' }, { taskId: id });
  expect(await client.result(id)).toEqual({ over: 'mtls' });
  const d = await client.get(id);
  expect(d.status).toBe('succeeded');
  expect(stack.ledgerFor(id)).toHaveLength(1);
  expect(refused).toEqual([]);
});

test('a client without a client certificate cannot reach Temporal through the proxy', async () => {
  const before = refused.length;
  const started = Date.now();
  const attempt = Connection.connect({
    address: proxyAddress,
    connectTimeout: 3_000,
    tls: { serverRootCACertificate: readFileSync(join(dir, 'ca.crt')), serverNameOverride: 'localhost' },
  });
  await expect(attempt).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(refused.length).toBeGreaterThan(before);
});

test("`tideway dev` and `tideway temporal` reach a TEMPORAL_ADDRESS server over the config's mTLS (ensureTemporal)", async () => {
  const project = await loadProject({ config: configFile, env: configOnlyEnv() });
  const before = accepted.length;
  const target = await ensureTemporal(project.settings);
  try {
    expect(target).toMatchObject({ address: proxyAddress, started: false });
    expect(accepted.length).toBeGreaterThan(before);
  } finally {
    await target.stop();
  }
});
