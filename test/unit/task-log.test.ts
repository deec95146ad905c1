import { mkdtempSync, readFileSync, appendFileSync, utimesSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { attemptLogger } from '../../activities/task-log';
import { knownSecrets, redactFields, REDACTED, scrubText, TASK_LOG_DEFAULTS } from '../../config/task-log';
import { FileTaskLogStore } from '../../config/task-log-file';
import { loadSettings } from '../../config/settings';

const who = { taskId: 'order-1', runId: 'run-1', attempt: 1, type: 'demo.sleep', tenant: 'acme', lane: 'normal' };
const dir = () => mkdtempSync(join(tmpdir(), 'tideway-task-log-'));

/** A pino logger writing into an array, to see what reaches the pool log. */
function capture() {
  const out: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => out.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, out };
}

describe('redaction', () => {
  it.each([
    ['apiKey'],
    ['API_KEY'],
    ['secret'],
    ['clientSecret'],
    ['token'],
    ['accessToken'],
    ['password'],
    ['Authorization'],
    ['cookie'],
    ['credentials'],
  ])('redacts the value under %s, at any depth', (name) => {
    const r = redactFields({ [name]: 'hunter2-value', nested: { deeper: { [name]: { a: 1 } } }, list: [{ [name]: 'x' }] }, []);
    expect(JSON.stringify(r)).not.toContain('hunter2-value');
    expect(r[name]).toBe(REDACTED);
    expect((r.nested as { deeper: Record<string, unknown> }).deeper[name]).toBe(REDACTED);
  });

  it('keeps ordinary fields, scrubs known secret values and bearer tokens from strings', () => {
    const r = redactFields({ user: 'ann', n: 3, note: 'called with sk-live-123456 and Bearer abc.def' }, ['sk-live-123456']);
    expect(r).toEqual({ user: 'ann', n: 3, note: `called with ${REDACTED} and Bearer ${REDACTED}` });
    expect(scrubText('Authorization: Bearer tok_123', [])).toBe(`Authorization: Bearer ${REDACTED}`);
  });

  it('caps depth, entries and string length, and survives cycles and errors', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const r = redactFields({ cyclic, deep: { a: { b: { c: { d: 1 } } } }, long: 'x'.repeat(5000), err: new Error('boom') }, []);
    expect((r.cyclic as Record<string, unknown>).self).toBe('[circular]');
    expect(JSON.stringify(r.deep)).toContain('[nested]');
    expect((r.long as string).length).toBeLessThan(1100);
    expect(r.err).toEqual({ name: 'Error', message: 'boom' });
  });

  it('knows the secrets of the settings: API keys, the CLI key, the Temporal key, callback secrets', () => {
    const s = loadSettings({
      TIDEWAY_API_KEYS: 'acme=acme-key-123456',
      TIDEWAY_API_KEY: 'cli-key-abcdef',
      TEMPORAL_API_KEY: 'temporal-key-xyz',
      TIDEWAY_CALLBACK_SECRETS: 'acme=cb-secret-999',
    });
    expect(knownSecrets(s).sort()).toEqual(['acme-key-123456', 'cb-secret-999', 'cli-key-abcdef', 'temporal-key-xyz']);
  });
});

describe('attemptLogger', () => {
  it('sends one line to the pool log and the store, with the task identity, redacted', async () => {
    const { log, out } = capture();
    const store = new FileTaskLogStore({ dir: dir() });
    const ctxLog = attemptLogger({ pino: log, store, secrets: ['acme-key-123456'] }, who);
    ctxLog.info('charging with key acme-key-123456', { amount: 5, apiKey: 'acme-key-123456', password: 'pw' });
    ctxLog.debug('below the store level');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ event: 'task:log', taskId: 'order-1', attempt: 1, type: 'demo.sleep', tenant: 'acme', level: 30 });
    expect(JSON.stringify(out)).not.toContain('acme-key-123456');
    expect(JSON.stringify(out)).not.toContain('"pw"');
    const page = await store.read('order-1', { limit: 10 });
    expect(page.lines).toHaveLength(1); // debug went to the pool log only
    expect(page.lines[0]).toMatchObject({
      level: 'info',
      msg: `charging with key ${REDACTED}`,
      taskId: 'order-1',
      runId: 'run-1',
      attempt: 1,
      type: 'demo.sleep',
      tenant: 'acme',
      lane: 'normal',
      pid: process.pid,
      fields: { amount: 5, apiKey: REDACTED, password: REDACTED },
    });
  });

  it('caps a long message and drops fields too large for a line', async () => {
    const store = new FileTaskLogStore({ dir: dir() });
    const ctxLog = attemptLogger({ store }, who);
    ctxLog.warn('m'.repeat(10_000), { blob: Array.from({ length: 50 }, () => 'y'.repeat(900)) });
    const [line] = (await store.read('order-1', { limit: 1 })).lines;
    expect(line!.msg.length).toBeLessThan(TASK_LOG_DEFAULTS.maxMessageChars + 50);
    expect(line!.fields).toEqual({ dropped: expect.stringMatching(/bytes of fields/) });
    expect(Buffer.byteLength(JSON.stringify(line))).toBeLessThan(TASK_LOG_DEFAULTS.maxLineBytes);
  });

  it('never fails the handler when the store fails', () => {
    const { log, out } = capture();
    const broken = {
      append: () => {
        throw new Error('disk full');
      },
      read: () => Promise.reject(new Error('no')),
    };
    const ctxLog = attemptLogger({ pino: log, store: broken }, who);
    expect(() => {
      ctxLog.info('a');
      ctxLog.info('b');
    }).not.toThrow();
    expect(out.filter((l) => l.event === 'task-log:store-failed')).toHaveLength(1);
  });
});

describe('FileTaskLogStore', () => {
  it('pages with a byte cursor, across writers, and skips a line still being written', async () => {
    const d = dir();
    const a = new FileTaskLogStore({ dir: d });
    const b = new FileTaskLogStore({ dir: d }); // another pool process
    attemptLogger({ store: a }, who).info('one');
    attemptLogger({ store: b }, { ...who, attempt: 2 }).info('two');
    attemptLogger({ store: a }, { ...who, attempt: 3 }).info('three');
    const p1 = await a.read('order-1', { limit: 2 });
    expect(p1.lines.map((l) => [l.attempt, l.msg])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    appendFileSync(a.fileOf('order-1'), '{"partial":');
    const p2 = await a.read('order-1', { after: p1.next, limit: 10 });
    expect(p2.lines.map((l) => l.msg)).toEqual(['three']);
    const p3 = await a.read('order-1', { after: p2.next, limit: 10 });
    expect(p3).toEqual({ lines: [], next: p2.next, truncated: false });
    await expect(a.read('order-1', { after: 'abc', limit: 1 })).rejects.toMatchObject({ type: 'ValidationError' });
    expect(await a.read('never-logged', { limit: 5 })).toEqual({ lines: [], next: '0', truncated: false });
  });

  it('keeps shard refs apart from their batch', () => {
    const s = new FileTaskLogStore({ dir: dir() });
    expect(s.fileOf('yield-2/shard-3')).not.toBe(s.fileOf('yield-2'));
    expect(s.fileOf('yield-2/shard-3')).not.toContain('/shard-3');
  });

  it('bounds a task by lines and writes one truncated marker, also with two writers', async () => {
    const d = dir();
    const a = new FileTaskLogStore({ dir: d, maxLines: 10 });
    const b = new FileTaskLogStore({ dir: d, maxLines: 10 });
    for (let i = 0; i < 30; i++) attemptLogger({ store: i % 2 ? a : b }, who).info(`line ${i}`);
    const page = await a.read('order-1', { limit: 100 });
    expect(page.lines).toHaveLength(10);
    expect(page.lines.filter((l) => l.truncated)).toHaveLength(1);
    expect(page.lines.at(-1)).toMatchObject({ truncated: true, level: 'warn' });
    expect(page.truncated).toBe(true);
  });

  it('bounds a task by bytes', () => {
    const s = new FileTaskLogStore({ dir: dir(), maxBytes: 16 * 1024 });
    const l = attemptLogger({ store: s }, who);
    for (let i = 0; i < 100; i++) l.info('z'.repeat(1_000));
    expect(readFileSync(s.fileOf('order-1')).length).toBeLessThanOrEqual(16 * 1024);
  });

  it('prunes files untouched for longer than the retention', () => {
    const s = new FileTaskLogStore({ dir: dir() });
    attemptLogger({ store: s }, who).info('old');
    attemptLogger({ store: s }, { ...who, taskId: 'fresh' }).info('new');
    const old = new Date(Date.now() - 8 * 24 * 3600_000);
    utimesSync(s.fileOf('order-1'), old, old);
    expect(s.prune(TASK_LOG_DEFAULTS.retentionMs)).toBe(1);
    expect(existsSync(s.fileOf('order-1'))).toBe(false);
    expect(existsSync(s.fileOf('fresh'))).toBe(true);
  });
});

describe('settings', () => {
  it('defaults the task log folder under the data dir and checks the bounds', () => {
    const s = loadSettings({ TIDEWAY_DATA_DIR: '/tmp/tw-data' });
    expect(s.taskLogs).toEqual({
      dir: '/tmp/tw-data/task-logs',
      level: 'info',
      maxLines: TASK_LOG_DEFAULTS.maxLines,
      maxBytes: TASK_LOG_DEFAULTS.maxBytes,
      retentionMs: TASK_LOG_DEFAULTS.retentionMs,
    });
    expect(loadSettings({ TIDEWAY_TASK_LOG_DIR: '/mnt/shared/logs', TIDEWAY_TASK_LOG_RETENTION: '1d' }).taskLogs).toMatchObject({
      dir: '/mnt/shared/logs',
      retentionMs: 24 * 3600_000,
    });
    expect(() => loadSettings({ TIDEWAY_TASK_LOG_MAX_LINES: '1' })).toThrow(/TIDEWAY_TASK_LOG_MAX_LINES/);
    expect(() => loadSettings({ TIDEWAY_TASK_LOG_LEVEL: 'loud' })).toThrow(/TIDEWAY_TASK_LOG_LEVEL/);
  });
});
