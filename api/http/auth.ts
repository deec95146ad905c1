import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tenantSchema } from '../../config/envelope';
import { TidewayError } from '../../config/errors';
import { loadSettings, parseTenantKeys, type Settings, type TenantKey } from '../../config/settings';
import { UnauthorizedError } from './errors';

/**
 * API keys → tenants. Keys are kept only as SHA-256 digests, so a heap dump or a keys file does
 * not hand out working keys; a presented key is hashed and looked up.
 */

/** Thrown at start when an API key configuration line cannot be read. */
export class ApiKeyConfigError extends TidewayError {
  readonly type = 'ApiKeyConfigError';
}

const HASHED = /^sha256:([0-9a-f]{64})$/;

/** The SHA-256 of a key as stored (`sha256:<hex>`), also the form a keys file may hold. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** A fresh random API key (192 bits, URL-safe). */
export function generateApiKey(): string {
  return `tw_${randomBytes(24).toString('base64url')}`;
}

/** Maps hashed API keys to tenants. */
export class ApiKeyStore {
  private readonly byHash = new Map<string, string>();

  /** Adds a key for a tenant; `key` may be plain or already `sha256:<hex>`. */
  add(tenant: string, key: string): this {
    const t = tenantSchema.safeParse(tenant);
    if (!t.success) throw new ApiKeyConfigError(`invalid tenant ${JSON.stringify(tenant)}: ${t.error.issues[0]?.message}`);
    if (key.length < 8 && !HASHED.test(key)) throw new ApiKeyConfigError(`API key for tenant ${tenant} is shorter than 8 characters`);
    this.byHash.set(HASHED.test(key) ? key : hashApiKey(key), tenant);
    return this;
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Tenants that have at least one key. */
  tenants(): string[] {
    return [...new Set(this.byHash.values())];
  }

  /**
   * The tenant of a presented key, or undefined. Lookup is by digest, so timing reveals nothing
   * useful about the stored keys.
   */
  tenantOf(key: string): string | undefined {
    return this.byHash.get(hashApiKey(key));
  }

  /** Reads `tenant=key,tenant2=key2` (TIDEWAY_API_KEYS form); keys may be `sha256:<hex>`. */
  static parse(spec: string, store = new ApiKeyStore()): ApiKeyStore {
    let entries: TenantKey[];
    try {
      entries = parseTenantKeys(spec);
    } catch (err) {
      throw new ApiKeyConfigError((err as Error).message);
    }
    for (const { tenant, key } of entries) store.add(tenant, key);
    return store;
  }

  /** Reads a keys file: one `tenant=key` per line (`#` comments), or a JSON object `{tenant: key | key[]}`. */
  static fromFile(path: string, store = new ApiKeyStore()): ApiKeyStore {
    const text = readFileSync(path, 'utf8');
    if (text.trimStart().startsWith('{')) {
      const obj = JSON.parse(text) as Record<string, unknown>;
      for (const [tenant, v] of Object.entries(obj)) {
        for (const key of Array.isArray(v) ? v : [v]) {
          if (typeof key !== 'string') throw new ApiKeyConfigError(`keys file ${path}: key of ${tenant} is not a string`);
          store.add(tenant, key);
        }
      }
      return store;
    }
    return ApiKeyStore.parse(text, store);
  }

  /** Keys from the settings: TIDEWAY_API_KEYS and/or TIDEWAY_API_KEYS_FILE. */
  static fromSettings(api: Pick<Settings['api'], 'keys' | 'keysFile'>): ApiKeyStore {
    const store = new ApiKeyStore();
    for (const { tenant, key } of api.keys) store.add(tenant, key);
    if (api.keysFile) ApiKeyStore.fromFile(api.keysFile, store);
    return store;
  }

  /** Keys from TIDEWAY_API_KEYS and/or TIDEWAY_API_KEYS_FILE of `env` (@default the process environment). */
  static fromEnv(env?: NodeJS.ProcessEnv): ApiKeyStore {
    return ApiKeyStore.fromSettings(loadSettings(env).api);
  }
}

/** The tenant of an `Authorization: Bearer <key>` header; throws UnauthorizedError otherwise. */
export function authenticate(store: ApiKeyStore, header: string | undefined): string {
  if (!header) throw new UnauthorizedError('missing Authorization: Bearer <api key>');
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
  if (!m) throw new UnauthorizedError('Authorization must be "Bearer <api key>"');
  const tenant = store.tenantOf(m[1]!);
  if (!tenant) throw new UnauthorizedError('unknown API key');
  return tenant;
}
