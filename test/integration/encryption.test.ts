import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { startApiServer, type RunningApi } from '../../api/http/start';
import { TaskClient } from '../../api/task-client';
import { loadProject, type Project } from '../../config/load';
import { loadSettings } from '../../config/settings';
import { findOrBuildTemporalCli, startDevServer, type DevServer } from '../../temporal';
import { AesGcmCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../temporal/codec';
import { expectNoLeakedWorkers, startStack, uniqueId, type Stack } from '../helpers/stack';

/**
 * Payload encryption end to end on a dev server of its own, whose SQLite file the test reads: with
 * keys in the config, the control worker, a pool, the TaskClient and the API all seal payloads, so
 * the file holds no task input or result in the clear, while `get` and `result` decrypt, the API's
 * codec endpoint decrypts for a caller with an API key, and a reader without the key ID is told so.
 * A task started by a client without the codec shows that the file search does find plaintext.
 */
jest.setTimeout(180_000);

const ROOT = join(__dirname, '..', '..');
const API_KEY = 'acme-codec-key-123';
const KEY = randomBytes(32).toString('base64');

const ENCRYPTED_ENCODING_B64 = Buffer.from(ENCRYPTED_ENCODING).toString('base64');

let dir: string;
let dbFile: string;
let cli: string;
let server: DevServer;
let project: Project;
let stack: Stack | undefined;
let client: TaskClient | undefined;
let api: RunningApi | undefined;

/** Every byte the server has written: the database and its write-ahead log (WAL mode). */
function serverBytes(): Buffer {
  return Buffer.concat([dbFile, `${dbFile}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tideway-enc-'));
  dbFile = join(dir, 'temporal.db');
  const settings = loadSettings();
  cli =
    process.env.TIDEWAY_TEST_TEMPORAL_CLI ??
    (await findOrBuildTemporalCli({ explicit: settings.temporalCli, cacheDir: settings.cacheDir, searchPath: settings.searchPath }));
  server = await startDevServer({ cli, dbFile, port: 0, headless: true, logDir: dir });
  const configFile = join(dir, 'tideway.config.ts');
  writeFileSync(
    configFile,
    `import { catalog } from ${JSON.stringify(join(ROOT, 'examples', 'demo', 'catalog'))};

export default {
  app: 'enc',
  catalog,
  handlers: { demo: () => import(${JSON.stringify(join(ROOT, 'examples', 'demo', 'handlers'))}) },
  temporal: { address: '${server.address}' },
  api: { keys: { acme: '${API_KEY}' } },
  encryption: { keys: [{ id: 'test-2026', key: '${KEY}' }] },
  logLevel: 'warn' as const,
};
`,
  );
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && !k.startsWith('TIDEWAY_CODEC')));
  project = await loadProject({ config: configFile, env });
  stack = await startStack({ config: configFile, address: server.address, pools: [['demo', 'normal']] });
  client = await TaskClient.fromProject(project);
  api = await startApiServer({ project, port: 0, say: () => undefined });
});

afterAll(async () => {
  await api?.close();
  await client?.close();
  await stack?.stop();
  await server?.stop();
  expectNoLeakedWorkers();
});

test('the server stores no plaintext input or result; get and result decrypt', async () => {
  const marker = `SECRET-${randomUUID()}`;
  const id = uniqueId('enc-echo');
  await client!.submit('demo.echo', { marker }, { taskId: id, tenant: 'acme' });
  expect(await client!.result(id)).toEqual({ marker });
  const state = await client!.get(id);
  expect(state).toMatchObject({ status: 'succeeded', result: { marker } });
  expect(stack!.ledgerFor(id)).toHaveLength(1);

  // The probe works: a task started without the codec (input in the clear) is found in the file.
  // Its result is sealed by the workers (they encrypt everything they send).
  const probe = `PLAIN-${randomUUID()}`;
  const plainClient = new TaskClient({ client: stack!.temporal, catalog: project.catalog, admission: { kind: 'off' } });
  const probeId = uniqueId('enc-probe');
  await plainClient.submit('demo.echo', { probe }, { taskId: probeId });
  await client!.result(probeId);

  const bytes = serverBytes();
  expect(bytes.length).toBeGreaterThan(0);
  expect(bytes.includes(probe)).toBe(true);
  expect(bytes.includes(marker)).toBe(false);
  expect(bytes.includes(Buffer.from(marker, 'utf16le'))).toBe(false);

  // What the server holds for the task: sealed payloads naming the key.
  const history = await client!.temporal.workflow.getHandle(id).fetchHistory();
  const completed = history.events?.find((e) => e.workflowExecutionCompletedEventAttributes)?.workflowExecutionCompletedEventAttributes;
  const sealed = completed?.result?.payloads?.[0];
  expect(Buffer.from(sealed!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
  expect(Buffer.from(sealed!.metadata![KEY_ID_METADATA]!).toString()).toBe('test-2026');

  // The Web UI summary is a payload too: sealed on the server, read back through the codec.
  const d = await client!.temporal.workflow.getHandle(id).describe();
  expect(await d.staticSummary()).toBe('demo.echo · normal lane · tenant acme');
  const rawSummary = d.raw.executionConfig?.userMetadata?.summary;
  expect(Buffer.from(rawSummary!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
});

test('the API codec endpoint decrypts for a caller with an API key and refuses one without', async () => {
  const id = uniqueId('enc-codec');
  const marker = `CODEC-${randomUUID()}`;
  await client!.submit('demo.echo', { marker }, { taskId: id, tenant: 'acme' });
  await client!.result(id);
  // What the Web UI holds: the raw history, straight from the server.
  const raw = await stack!.temporal.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId: id } });
  const sealed = raw.history!.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!.workflowExecutionCompletedEventAttributes!
    .result!.payloads![0]!;
  const body = JSON.stringify({
    payloads: [
      {
        metadata: Object.fromEntries(Object.entries(sealed.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(sealed.data!).toString('base64'),
      },
    ],
  });
  const post = (headers: Record<string, string>) =>
    fetch(`${api!.url}/codec/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
      body,
    });

  const ok = await post({ authorization: `Bearer ${API_KEY}` });
  expect(ok.status).toBe(200);
  const [p] = ((await ok.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
  const decoded = defaultPayloadConverter.fromPayload(
    temporal.api.common.v1.Payload.create({
      metadata: Object.fromEntries(Object.entries(p!.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p!.data, 'base64'),
    }),
  );
  expect(decoded).toEqual({ marker });

  const refused = await post({});
  expect(refused.status).toBe(401);
  expect(await refused.json()).toMatchObject({ error: { type: 'Unauthorized' } });

  // Temporal's own codec client (the CLI, protobuf JSON) reads the history through the endpoint.
  const { stdout } = await promisify(execFile)(cli, [
    'workflow',
    'show',
    '--address',
    server.address,
    '-w',
    id,
    '--output',
    'json',
    '--codec-endpoint',
    `${api!.url}/codec`,
    '--codec-auth',
    `Bearer ${API_KEY}`,
  ]);
  // `--output json` keeps payloads in protobuf JSON (base64), decoded: the marker is in their data.
  const decodedData = [...stdout.matchAll(/"data": "([A-Za-z0-9+/=]*)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString()).join('\n');
  expect(decodedData).toContain(marker);
  expect(stdout).not.toContain(ENCRYPTED_ENCODING_B64);
});

test('a reader without the key ID fails with an error naming it', async () => {
  const id = uniqueId('enc-unknown');
  await client!.submit('demo.echo', { n: 1 }, { taskId: id });
  await client!.result(id);
  const connection = await Connection.connect({ address: server.address });
  try {
    const otherKey = { id: 'someone-else', key: randomBytes(32).toString('base64') };
    const stranger = new Client({ connection, dataConverter: { payloadCodecs: [new AesGcmCodec([otherKey])] } });
    const err = await stranger.workflow
      .getHandle(id)
      .result()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'UnknownEncryptionKey', keyId: 'test-2026' });
    expect(String((err as Error).message)).toContain('encrypted with key "test-2026", which this process does not have');
  } finally {
    await connection.close();
  }
});
