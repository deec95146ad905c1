import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ApiServer } from '../../api/http/server';
import { freePort } from '../../temporal/dev-server';
import { DEMO_CONFIG, testAddress, waitFor } from '../helpers/stack';

/** A JSON answer from the API under test. */
export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** Starts a built API server on a free loopback port and returns a small fetch-based caller. */
export async function listen(server: ApiServer): Promise<{ url: string; call: Caller }> {
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  return { url, call: caller(url) };
}

export type Caller = (
  method: string,
  path: string,
  opts?: { key?: string; json?: unknown; raw?: string; headers?: Record<string, string> },
) => Promise<Answer>;

/** Calls the API with real HTTP (light-my-request cannot load under jest: its cookie dep is ESM-only). */
export function caller(base: string): Caller {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let body: string | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] ??= 'application/json';
    } else if (opts.raw !== undefined) {
      body = opts.raw;
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}

/** A `tideway api` process started by a test, and a caller of its HTTP API. */
export interface ApiProc {
  proc: ChildProcess;
  call: Caller;
  exited: Promise<void>;
}

/**
 * Starts a real `tideway api` process for the demo project against the test's Temporal server on a
 * free port (API key `default=<key>`, plus `env`), and waits until /healthz answers.
 */
export async function startApiProcess(key: string, env: Record<string, string> = {}): Promise<ApiProc> {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(__dirname, '..', '..', 'bin', 'tideway.js'), 'api'], {
    env: {
      ...process.env,
      TIDEWAY_CONFIG: DEMO_CONFIG,
      TEMPORAL_ADDRESS: testAddress(),
      TIDEWAY_PORT: String(port),
      TIDEWAY_API_KEYS: `default=${key}`,
      TIDEWAY_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const call = caller(`http://127.0.0.1:${port}`);
  await waitFor(
    () =>
      call('GET', '/healthz').then(
        (r) => r.status === 200,
        () => false,
      ),
    60_000,
  );
  return { proc, call, exited };
}
