import { resolve } from 'node:path';
import { loadSettings } from '../../config/settings';

/** The one settings module: every variable's default, its compiled form, and one error naming every bad one. */
const none = {} as NodeJS.ProcessEnv;

test('an empty environment gives every default', () => {
  const s = loadSettings(none);
  expect(s).toMatchObject({
    app: undefined,
    temporalAddress: undefined,
    namespace: 'default',
    tls: false,
    temporalPort: 7233,
    uiPort: 8233,
    headless: false,
    dataDir: resolve('.tideway'),
    logLevel: 'info',
    admission: { kind: 'adaptive', objectiveMs: 250 },
    lanes: { high: { waitObjectiveMs: 250 } },
    api: { port: 8080, host: '127.0.0.1', keys: [], keysFile: undefined, bodyLimit: 1024 * 1024, backpressure: {}, dev: false },
    callbacks: { secrets: {}, allowlist: [] },
    cli: { url: undefined, apiKey: undefined },
    pool: { metricsPort: 0, metricsHost: '0.0.0.0', shutdownGraceMs: undefined, aimd: undefined },
    control: { buildId: undefined, versioningBehavior: 'auto-upgrade', promote: false },
    scaler: { options: undefined, interval: undefined, actuator: 'process', metricsPort: undefined },
  });
  expect(Object.isFrozen(s) && Object.isFrozen(s.api.backpressure)).toBe(true);
});

test('values compile: durations to ms, flags to booleans, ports to numbers, lists parsed', () => {
  const s = loadSettings({
    TIDEWAY_MAX_BACKLOG_AGE: '30s',
    TIDEWAY_MAX_BACKLOG: '500',
    TIDEWAY_AIMD: 'true',
    TIDEWAY_PROMOTE: '1',
    TIDEWAY_PORT: '0',
    TIDEWAY_API_KEYS: 'acme=key-acme-123, globex=sha256:abc',
    TIDEWAY_CALLBACK_SECRETS: 'acme=s1,*=s2',
    TIDEWAY_CALLBACK_ALLOWLIST: '127.0.0.1, localhost,',
    TIDEWAY_ADMISSION: 'low=8/s',
    TIDEWAY_SCALER_OPTIONS: '{"interval":"2s"}',
    TIDEWAY_URL: '',
    TEMPORAL_API_KEY: 'k',
  });
  expect(s.api.backpressure).toEqual({ maxBacklog: 500, maxBacklogAgeMs: 30_000 });
  expect(s.pool.aimd).toBe(true);
  expect(s.control.promote).toBe(true);
  expect(s.api.port).toBe(0);
  expect(s.api.keys).toEqual([
    { tenant: 'acme', key: 'key-acme-123' },
    { tenant: 'globex', key: 'sha256:abc' },
  ]);
  expect(s.callbacks).toEqual({ secrets: { acme: 's1', '*': 's2' }, allowlist: ['127.0.0.1', 'localhost'] });
  expect(s.admission).toEqual({ kind: 'fixed', spec: { low: { perSecond: 8, burst: 8 } } });
  expect(s.scaler.options).toEqual({ interval: '2s' });
  expect(s.cli.url).toBeUndefined(); // empty is unset, as before
  expect(s.tls).toBe(true); // an API key implies TLS
  expect(loadSettings({ TIDEWAY_ADMISSION: '' }).admission).toEqual({ kind: 'off' }); // set but empty: off
  expect(loadSettings({ TIDEWAY_ADMISSION: 'off' }).admission).toEqual({ kind: 'off' });
  // The objective is its own variable; adaptive mode carries it.
  const adaptive = loadSettings({ TIDEWAY_ADMISSION: 'adaptive', TIDEWAY_HIGH_WAIT_OBJECTIVE: '400ms' });
  expect(adaptive.admission).toEqual({ kind: 'adaptive', objectiveMs: 400 });
  expect(adaptive.lanes.high.waitObjectiveMs).toBe(400);
  expect(loadSettings({ TIDEWAY_HIGH_WAIT_OBJECTIVE: '1s' }).admission).toEqual({ kind: 'adaptive', objectiveMs: 1000 });
});

test('one error names every bad variable', () => {
  let message = '';
  try {
    loadSettings({
      TIDEWAY_PORT: 'eighty',
      TIDEWAY_ADMISSION: 'low=8',
      TIDEWAY_API_KEYS: 'acme=key-acme-123,nope',
      TIDEWAY_MAX_BACKLOG_AGE: 'soon',
      TIDEWAY_HIGH_WAIT_OBJECTIVE: '0ms',
      TIDEWAY_SCALER_OPTIONS: '{bad',
      TIDEWAY_BUILD_ID: 'has space',
      TEMPORAL_TLS_CERT: 'c.pem',
    });
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message).toMatch(/^invalid environment:\n/);
  for (const line of [
    /TIDEWAY_PORT: /,
    /TIDEWAY_ADMISSION: "low=8": use <lane>=<n>\/s/,
    /TIDEWAY_API_KEYS: API key entry 2 is not tenant=key/,
    /TIDEWAY_MAX_BACKLOG_AGE: not a duration/,
    /TIDEWAY_HIGH_WAIT_OBJECTIVE: must be above 0/,
    /TIDEWAY_SCALER_OPTIONS: not valid JSON/,
    /TIDEWAY_BUILD_ID: use 1-64 letters/,
    /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/,
  ]) {
    expect(message).toMatch(line);
  }
});
