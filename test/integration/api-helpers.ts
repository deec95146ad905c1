import type { AddressInfo } from 'node:net';
import type { ApiServer } from '../../api/http/server';

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
