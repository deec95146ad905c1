import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import type { TemporalSecurity } from '../config/settings';

/** TLS and API-key options for Connection.connect and NativeConnection.connect, from the settings. */
export function securityOptions(s: Partial<TemporalSecurity> | undefined): { tls?: TLSConfig | boolean; apiKey?: string } {
  if (!s?.tls) return {};
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the Temporal TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const tls: TLSConfig = {
    ...(s.tlsCert && s.tlsKey ? { clientCertPair: { crt: read(s.tlsCert, 'certificate'), key: read(s.tlsKey, 'key') } } : {}),
    ...(s.tlsCa ? { serverRootCACertificate: read(s.tlsCa, 'CA bundle') } : {}),
    ...(s.tlsServerName ? { serverNameOverride: s.tlsServerName } : {}),
  };
  return { tls: Object.keys(tls).length > 0 ? tls : true, ...(s.apiKey ? { apiKey: s.apiKey } : {}) };
}

/** Connects to Temporal, retrying until `timeoutMs` (a server that is still starting answers late). */
export async function connectWithRetry(address: string, timeoutMs = 30_000, security?: Partial<TemporalSecurity>): Promise<Connection> {
  const extra = securityOptions(security);
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000, ...extra });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      lastErr = err;
      if (Date.now() > deadline) {
        throw new Error(`Temporal at ${address} did not answer within ${timeoutMs / 1000}s: ${String(lastErr)}`);
      }
      await sleep(250);
    }
  }
}

/** Creates a client on `namespace` over an existing connection. */
export function clientFor(connection: Connection, namespace: string): Client {
  return new Client({ connection, namespace });
}

/**
 * Registers Tideway's Keyword search attributes on `namespace` if they are missing. Idempotent;
 * needed for servers Tideway did not start itself (TEMPORAL_ADDRESS).
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const custom = existing.customAttributes ?? {};
  const missing = SEARCH_ATTRIBUTES.filter((name) => !(name in custom));
  if (missing.length === 0) return;
  const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((n) => [n, KEYWORD])),
  });
}
