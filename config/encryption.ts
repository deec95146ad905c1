import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TidewayError } from './errors';

/**
 * Payload encryption keys (temporal/codec.ts uses them): `id:base64key` entries, the first one the
 * current key new payloads are encrypted with, the others kept so that payloads written under them
 * still decrypt (rotation: put the new key first, keep the old ones until their tasks are gone).
 */

/** How to make a key, said in every error about one. */
export const KEY_HINT = 'generate one with `openssl rand -base64 32`';

/** Thrown at start when an encryption key entry, the keys file or the key set is malformed. */
export class CodecKeyError extends TidewayError {
  readonly type = 'CodecKeyError';
}

/** One named AES-256 key. */
export interface CodecKey {
  readonly id: string;
  /** 32 bytes, base64 (kept as text so the settings can be frozen; Buffers cannot). */
  readonly key: string;
}

const keyIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a key ID is 1-64 letters, digits, dots, dashes or underscores');
const keySchema = z
  .string()
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, `not base64; ${KEY_HINT}`)
  .refine((v) => Buffer.from(v, 'base64').length === 32, { message: `an AES-256 key is 32 bytes; ${KEY_HINT}` });
const entrySchema = z.object({ id: keyIdSchema, key: keySchema });

/**
 * Parses `id:base64key,id2:base64key2` (commas or newlines, `#` comment lines): the first is the
 * current key. Throws CodecKeyError naming the bad entry, never echoing the key.
 */
export function parseCodecKeys(spec: string): CodecKey[] {
  const out: CodecKey[] = [];
  for (const [i, raw] of spec.split(/[,\n]/).entries()) {
    const entry = raw.trim();
    if (!entry || entry.startsWith('#')) continue;
    const colon = entry.indexOf(':');
    if (colon <= 0) throw new CodecKeyError(`encryption key entry ${i + 1} is not id:base64key (${KEY_HINT})`);
    const id = entry.slice(0, colon).trim();
    const r = entrySchema.safeParse({ id, key: entry.slice(colon + 1).trim() });
    if (!r.success) throw new CodecKeyError(`encryption key ${JSON.stringify(id)}: ${r.error.issues.map((x) => x.message).join('; ')}`);
    if (out.some((k) => k.id === r.data.id)) throw new CodecKeyError(`encryption key ID ${JSON.stringify(id)} appears twice`);
    out.push(r.data);
  }
  return out;
}

/** Keys from the settings: TIDEWAY_CODEC_KEYS first (its first is current), then those of TIDEWAY_CODEC_KEYS_FILE. */
export function codecKeysOf(s: { readonly keys: readonly CodecKey[]; readonly keysFile: string | undefined }): CodecKey[] {
  const keys = [...s.keys];
  if (s.keysFile) {
    let text: string;
    try {
      text = readFileSync(s.keysFile, 'utf8');
    } catch (err) {
      throw new CodecKeyError(`cannot read the encryption keys file ${s.keysFile}: ${(err as Error).message}`);
    }
    for (const k of parseCodecKeys(text)) {
      if (keys.some((x) => x.id === k.id)) throw new CodecKeyError(`encryption key ID ${JSON.stringify(k.id)} appears twice`);
      keys.push(k);
    }
  }
  return keys;
}
