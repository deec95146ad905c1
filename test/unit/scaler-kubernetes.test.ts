import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { poolTaskQueue } from '../../config/names';
import { poolSettingsSchema } from '../../config/catalog-schema';
import { deploymentNameFor } from '../../scaler/actuators/kubernetes';
import { scaledPool } from '../../scaler/types';

/**
 * No cluster runs here: these tests drive the real @kubernetes/client-node against a local HTTP
 * server that answers with the API's recorded `autoscaling/v1 Scale` shape and records what the
 * client sent, so they pin the request the actuator makes (method, path, patch type, body).
 * The client library is an ES module jest's CommonJS runtime cannot load on Node 20, so the
 * actuator (compiled, from dist/; run `npm run build` first) runs in a child node process.
 */
interface Recorded {
  method: string;
  url: string;
  contentType: string | undefined;
  auth: string | undefined;
  body: unknown;
}

const scaleResponse = (name: string, ns: string, replicas: number) => ({
  kind: 'Scale',
  apiVersion: 'autoscaling/v1',
  metadata: {
    name,
    namespace: ns,
    uid: '5e7c1a0e-0000-4000-8000-000000000001',
    resourceVersion: '12345',
    creationTimestamp: '2026-11-26T00:00:00Z',
  },
  spec: { replicas },
  status: { replicas, selector: `app.kubernetes.io/name=tideway-pool,tideway.dev/pool=${name}` },
});

let server: Server;
let url: string;
const seen: Recorded[] = [];
const replicas = new Map<string, number>([['tideway-pool-media-high', 3]]);

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        contentType: req.headers['content-type'],
        auth: req.headers.authorization,
        body: raw ? JSON.parse(raw) : undefined,
      });
      const m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)\/scale(\?.*)?$/.exec(req.url!);
      if (!m)
        return void res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 }));
      const [, ns, name] = m as unknown as [string, string, string];
      if (!replicas.has(name)) {
        return void res.writeHead(404, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: `deployments.apps "${name}" not found`,
            reason: 'NotFound',
            code: 404,
          }),
        );
      }
      if (req.method === 'PATCH') replicas.set(name, (JSON.parse(raw) as { spec: { replicas: number } }).spec.replicas);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(scaleResponse(name, ns, replicas.get(name)!)));
    });
  }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

type Op = { op: 'replicas' | 'scale'; group: string; lane: string; n?: number };
type OpResult = { ok: true; value: unknown } | { ok: false; type?: string; pool?: string; message: string };

/** Runs actuator operations in a child node process against the recording server. */
function run(ops: Op[], namespace = 'jobs'): Promise<OpResult[]> {
  const dist = join(__dirname, '..', '..', 'dist');
  const script = `
    const { KubeConfig } = require('@kubernetes/client-node');
    const { KubernetesActuator } = require(${JSON.stringify(join(dist, 'scaler/actuators/kubernetes.js'))});
    const { scaledPool } = require(${JSON.stringify(join(dist, 'scaler/types.js'))});
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'recorded', server: process.env.K8S_URL, skipTLSVerify: true }],
      users: [{ name: 'scaler', token: 'test-token' }],
      contexts: [{ name: 'recorded', cluster: 'recorded', user: 'scaler', namespace: process.env.K8S_NS }],
      currentContext: 'recorded',
    });
    const a = new KubernetesActuator({ namespace: process.env.K8S_NS, kubeConfig: kc });
    (async () => {
      const out = [];
      for (const o of JSON.parse(process.env.OPS)) {
        const pool = scaledPool({ group: o.group, lane: o.lane, concurrency: 1, minReplicas: 0, maxReplicas: 10, startupSeconds: 0 });
        try { out.push({ ok: true, value: o.op === 'scale' ? await a.scale(pool, o.n) : await a.replicas(pool) }); }
        catch (e) { out.push({ ok: false, type: e.type, pool: e.pool, message: e.message }); }
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['-e', script],
      { env: { ...process.env, K8S_URL: url, K8S_NS: namespace, OPS: JSON.stringify(ops) }, cwd: join(__dirname, '..', '..') },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as OpResult[])),
    ),
  );
}

const pool = (group: string, lane: 'high' | 'normal' | 'low') =>
  scaledPool({ group, lane, taskQueue: poolTaskQueue(group, lane), ...poolSettingsSchema.parse({}) });

test('deployment names follow the template', () => {
  expect(deploymentNameFor(pool('media', 'high'))).toBe('tideway-pool-media-high');
  expect(deploymentNameFor(pool('media', 'low'), 'workers-{lane}-{group}')).toBe('workers-low-media');
});

test('reads replicas from the scale subresource', async () => {
  seen.length = 0;
  await expect(run([{ op: 'replicas', group: 'media', lane: 'high' }])).resolves.toEqual([{ ok: true, value: 3 }]);
  expect(seen).toEqual([
    expect.objectContaining({
      method: 'GET',
      url: '/apis/apps/v1/namespaces/jobs/deployments/tideway-pool-media-high/scale',
      auth: 'Bearer test-token',
    }),
  ]);
});

test('scales with a merge patch of spec.replicas on the scale subresource', async () => {
  seen.length = 0;
  const [scaled, after] = await run([
    { op: 'scale', group: 'media', lane: 'high', n: 7 },
    { op: 'replicas', group: 'media', lane: 'high' },
  ]);
  expect(scaled).toMatchObject({ ok: true });
  expect(after).toEqual({ ok: true, value: 7 });
  expect(seen).toHaveLength(2);
  const r = seen[0]!;
  expect(r.method).toBe('PATCH');
  expect(r.url).toBe('/apis/apps/v1/namespaces/jobs/deployments/tideway-pool-media-high/scale?fieldManager=tideway-scaler');
  expect(r.contentType).toBe('application/merge-patch+json');
  expect(r.body).toEqual({ spec: { replicas: 7 } });
});

test('a missing Deployment surfaces as an ActuatorError naming it', async () => {
  const [s1, s2] = await run([
    { op: 'scale', group: 'media', lane: 'low', n: 1 },
    { op: 'replicas', group: 'media', lane: 'low' },
  ]);
  expect(s1).toMatchObject({ ok: false, type: 'ActuatorError', pool: 'media.low' });
  expect(s2).toMatchObject({ ok: false, type: 'ActuatorError', message: expect.stringMatching(/jobs\/tideway-pool-media-low/) });
});
