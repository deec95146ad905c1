import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { ApiKeyStore } from '../../api/http/auth';
import { buildApiServer, type ApiServer } from '../../api/http/server';
import { TaskClient } from '../../api/task-client';
import { codecKeysOf, parseCodecKeys, type CodecKey } from '../../config/encryption';
import { loadSettings } from '../../config/settings';
import { catalog } from '../../examples/demo/catalog';
import { AesGcmCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA, codecOf } from '../../temporal/codec';

const newKey = (id: string): CodecKey => ({ id, key: randomBytes(32).toString('base64') });
const k1 = newKey('k1');
const k2 = newKey('k2');
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const plain = (v: unknown): Payload => defaultPayloadConverter.toPayload(v);

describe('AesGcmCodec', () => {
  it('seals the whole payload under the current key and opens it again', async () => {
    const codec = new AesGcmCodec([k1]);
    const [sealed] = await codec.encode([plain({ secret: 'PLAINTEXT-MARKER' })]);
    expect(text(sealed!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata![KEY_ID_METADATA])).toBe('k1');
    // Neither the value nor its original encoding is readable.
    expect(text(sealed!.data)).not.toContain('PLAINTEXT-MARKER');
    expect(text(sealed!.data)).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual({ secret: 'PLAINTEXT-MARKER' });
  });

  it('rotates: encrypts with the first key, decrypts with any it knows', async () => {
    const old = new AesGcmCodec([k1]);
    const rotated = new AesGcmCodec([k2, k1]);
    const [byOld] = await old.encode([plain('written before rotation')]);
    const [byNew] = await rotated.encode([plain('written after')]);
    expect(text(byNew!.metadata![KEY_ID_METADATA])).toBe('k2');
    expect(rotated.currentKeyId).toBe('k2');
    const [a, b] = await rotated.decode([byOld!, byNew!]);
    expect(defaultPayloadConverter.fromPayload(a!)).toBe('written before rotation');
    expect(defaultPayloadConverter.fromPayload(b!)).toBe('written after');
  });

  it('fails clearly on a payload sealed with a key ID it does not have', async () => {
    const [sealed] = await new AesGcmCodec([k2]).encode([plain(1)]);
    const err = await new AesGcmCodec([k1]).decode([sealed!]).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'UnknownEncryptionKey', keyId: 'k2', known: ['k1'] });
    expect((err as Error).message).toMatch(/key "k2", which this process does not have \(known: k1\)/);
  });

  it('refuses a tampered payload, and one relabelled with another known key ID', async () => {
    const codec = new AesGcmCodec([k1, k2]);
    const [sealed] = await codec.encode([plain('x')]);
    const flipped = Buffer.from(sealed!.data!);
    flipped.writeUInt8(flipped.at(-1)! ^ 1, flipped.length - 1);
    await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toMatchObject({ type: 'PayloadDecryptionError' });
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await expect(codec.decode([relabelled])).rejects.toMatchObject({ type: 'PayloadDecryptionError' });
  });

  it('passes payloads written before encryption was on through unchanged', async () => {
    const p = plain({ old: true });
    expect(await new AesGcmCodec([k1]).decode([p])).toEqual([p]);
  });
});

describe('encryption keys', () => {
  it('parses id:base64key entries, the first current', () => {
    const keys = parseCodecKeys(`# rotation\n${k2.id}:${k2.key}\n${k1.id}:${k1.key}`);
    expect(keys.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(codecOf({ codec: { keys, keysFile: undefined, corsOrigins: [] } })?.currentKeyId).toBe('k2');
  });

  it.each([
    ['k1:' + randomBytes(16).toString('base64'), /"k1": an AES-256 key is 32 bytes; generate one with `openssl rand -base64 32`/],
    ['k1:not base64!', /"k1": not base64/],
    [randomBytes(32).toString('base64'), /entry 1 is not id:base64key/],
    [`k1:${k1.key},k1:${k2.key}`, /"k1" appears twice/],
    [`bad id:${k1.key}`, /1-64 letters/],
  ])('refuses %s, saying how to make a key', (spec, message) => {
    expect(() => parseCodecKeys(spec)).toThrow(message);
  });

  it('never echoes a key in an error', () => {
    const short = randomBytes(16).toString('base64');
    expect(() => parseCodecKeys(`k1:${short}`)).toThrow(expect.objectContaining({ message: expect.not.stringContaining(short) }));
  });

  it('are a setting: TIDEWAY_CODEC_KEYS is validated at start, naming the variable', () => {
    expect(loadSettings({ TIDEWAY_CODEC_KEYS: `${k1.id}:${k1.key}` }).codec.keys).toEqual([k1]);
    expect(() => loadSettings({ TIDEWAY_CODEC_KEYS: 'k1:abcd' })).toThrow(
      /TIDEWAY_CODEC_KEYS: encryption key "k1": an AES-256 key is 32 bytes/,
    );
    expect(loadSettings({}).codec.keys).toEqual([]);
    expect(codecOf(loadSettings({}))).toBeUndefined();
  });

  it('a missing keys file is named', () => {
    expect(() => codecKeysOf({ keys: [], keysFile: '/nonexistent/keys.txt' })).toThrow(
      /cannot read the encryption keys file \/nonexistent\/keys.txt/,
    );
  });
});

describe('codec endpoint', () => {
  let server: ApiServer;
  let connection: Connection;
  let base: string;
  const codec = new AesGcmCodec([k1]);
  const apiKey = 'acme-key-123';
  const origin = 'http://localhost:8233';
  const toJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    // Never reaches Temporal: the codec endpoint needs none.
    connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 200 });
    const client = new TaskClient({ client: new Client({ connection }), catalog });
    server = await buildApiServer({
      client,
      keys: ApiKeyStore.parse(`acme=${apiKey}`),
      backpressure: false,
      codec: { codec, corsOrigins: [origin] },
    });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(server.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await server.close();
    await connection.close();
  });

  it('decodes for a caller with an API key (header or path) and refuses one without', async () => {
    const [sealed] = await codec.encode([plain({ hello: 'codec' })]);
    const body = { payloads: [toJson(sealed!)] };
    for (const r of [
      await post('/codec/decode', body, { authorization: `Bearer ${apiKey}` }),
      await post(`/codec/${apiKey}/decode`, body),
    ]) {
      expect(r.status).toBe(200);
      const out = (await r.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(Buffer.from(out.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(out.payloads[0]!.data, 'base64').toString())).toEqual({ hello: 'codec' });
    }
    const anonymous = await post('/codec/decode', body);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { type: 'Unauthorized' } });
    expect((await post('/codec/wrong-key-999/decode', body)).status).toBe(401);
  });

  it('encodes, and names an unknown key ID with 400', async () => {
    const r = await post('/codec/encode', { payloads: [toJson(plain('x'))] }, { authorization: `Bearer ${apiKey}` });
    const out = (await r.json()) as { payloads: { metadata: Record<string, string> }[] };
    expect(Buffer.from(out.payloads[0]!.metadata[KEY_ID_METADATA]!, 'base64').toString()).toBe('k1');
    const [foreign] = await new AesGcmCodec([k2]).encode([plain('y')]);
    const bad = await post('/codec/decode', { payloads: [toJson(foreign!)] }, { authorization: `Bearer ${apiKey}` });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: 'UnknownEncryptionKey', message: expect.stringContaining('"k2"') } });
  });

  it('answers the Web UI preflight for its origin only', async () => {
    const ok = await fetch(`${base}/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-namespace');
    const other = await fetch(`${base}/codec/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
