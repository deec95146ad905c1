import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { loadSettings } from '../../config/settings';
import { startPostgresProfile, TEMPORAL_SERVER_VERSION, type PostgresProfile } from '../../temporal';
import { makeCertificates } from '../helpers/certs';
import { expectNoLeakedWorkers, startStack, uniqueId, type Stack } from '../helpers/stack';

/**
 * mTLS served by Temporal itself: the standalone server of the postgres profile with
 * `global.tls.frontend` (client certificate required) from a throwaway CA; a control worker, a pool
 * and a TaskClient connect with the client certificate; a client without one is refused.
 * Needs the postgres profile (its server build and PostgreSQL); `npm run test:cluster` has both, a
 * dev-profile run without them skips this file (tls.test.ts covers mTLS there through a proxy).
 */
jest.setTimeout(300_000);

const settings = loadSettings();
const available = existsSync(join(settings.cacheDir, `server-${TEMPORAL_SERVER_VERSION}`, 'server')) && existsSync('/usr/lib/postgresql');
const maybe = available ? describe : describe.skip;
if (!available) process.stderr.write('cluster-tls.test.ts skipped: the postgres profile is not built here (run npm run test:cluster)\n');

maybe('mTLS on the standalone server', () => {
  let dir: string;
  let profile: PostgresProfile | undefined;
  let stack: Stack | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tideway-cluster-tls-'));
    await makeCertificates(dir);
    const f = (n: string) => join(dir, n);
    profile = await startPostgresProfile({
      dataDir: dir,
      cacheDir: settings.cacheDir,
      searchPath: settings.searchPath,
      port: 0,
      shards: 2,
      tls: {
        serverCert: f('server.crt'),
        serverKey: f('server.key'),
        ca: f('ca.crt'),
        clientCert: f('client.crt'),
        clientKey: f('client.key'),
      },
    });
    stack = await startStack({
      address: profile.address,
      pools: [['demo', 'normal']],
      env: {
        TEMPORAL_TLS_CERT: f('client.crt'),
        TEMPORAL_TLS_KEY: f('client.key'),
        TEMPORAL_TLS_CA: f('ca.crt'),
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
      },
      connection: {
        tls: {
          clientCertPair: { crt: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) },
          serverRootCACertificate: readFileSync(f('ca.crt')),
          serverNameOverride: 'localhost',
        },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await profile?.stop();
    expectNoLeakedWorkers();
  });

  test('workers and a TaskClient run a task over mTLS', async () => {
    const id = uniqueId('mtls');
    await stack!.client.submit('demo.echo', { over: 'mtls' }, { taskId: id });
    await expect(stack!.client.result(id)).resolves.toEqual({ over: 'mtls' });
    expect(stack!.ledgerFor(id)).toHaveLength(1);
  });

  test('a client without a certificate is refused', async () => {
    const conn = await Connection.connect({
      address: profile!.address,
      tls: { serverRootCACertificate: readFileSync(join(dir, 'ca.crt')), serverNameOverride: 'localhost' },
      connectTimeout: 5_000,
    }).catch((err: unknown) => err as Error);
    if (conn instanceof Error) return expect(conn.message).toBeTruthy();
    await expect(conn.workflowService.getSystemInfo({})).rejects.toThrow();
    await conn.close();
  });

  test('a plaintext client is refused', async () => {
    const conn = await Connection.connect({ address: profile!.address, connectTimeout: 5_000 }).catch((err: unknown) => err as Error);
    if (conn instanceof Error) return expect(conn.message).toBeTruthy();
    await expect(conn.workflowService.getSystemInfo({})).rejects.toThrow();
    await conn.close();
  });
});
