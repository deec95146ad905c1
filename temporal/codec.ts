import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { codecKeysOf, CodecKeyError, type CodecKey } from '../config/encryption';
import { TidewayError } from '../config/errors';
import type { Settings } from '../config/settings';

/**
 * AES-256-GCM payload encryption: every payload the client, the control worker and the pools send
 * to Temporal is sealed whole (metadata and data, as the Payload proto), so the server stores no
 * input, result, memo or user metadata in the clear. The key ID travels in the sealed payload's
 * metadata, so several keys may be known at once: encrypt with the current one, decrypt with any.
 */

/** `encoding` of a sealed payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was sealed with. */
export const KEY_ID_METADATA = 'encryption-key-id';
/** Metadata key naming the cipher, so another algorithm can be added later without guessing. */
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Thrown by `decode` when a payload names a key ID this process does not have. */
export class UnknownEncryptionKeyError extends TidewayError {
  readonly type = 'UnknownEncryptionKey';
  constructor(
    readonly keyId: string,
    readonly known: readonly string[],
  ) {
    super(
      `payload was encrypted with key ${JSON.stringify(keyId)}, which this process does not have (known: ${known.join(', ')}); ` +
        'add it after the current key in TIDEWAY_CODEC_KEYS or the keys file',
    );
  }
}

/** Thrown by `decode` when a sealed payload is malformed or fails authentication (wrong key bytes, tampered). */
export class PayloadDecryptionError extends TidewayError {
  readonly type = 'PayloadDecryptionError';
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

/** The AES-256-GCM codec over a set of keys; the first is current. */
export class AesGcmCodec implements PayloadCodec {
  private readonly current: { id: string; key: Buffer };
  private readonly byId: ReadonlyMap<string, Buffer>;

  constructor(keys: readonly CodecKey[]) {
    const [first] = keys;
    if (!first) throw new CodecKeyError('payload encryption needs at least one key; generate one with `openssl rand -base64 32`');
    this.byId = new Map(keys.map((k) => [k.id, Buffer.from(k.key, 'base64')]));
    this.current = { id: first.id, key: this.byId.get(first.id)! };
  }

  /** ID of the key new payloads are encrypted with. */
  get currentKeyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.seal(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.open(p));
  }

  private seal(p: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    // The key ID is bound as associated data: a payload relabelled with another ID fails to open.
    cipher.setAAD(Buffer.from(this.current.id, 'utf8'));
    const plain = temporal.api.common.v1.Payload.encode(p).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(this.current.id), [CIPHER_METADATA]: utf8(CIPHER) },
      data: sealed,
    };
  }

  private open(p: Payload): Payload {
    // Payloads written before encryption was turned on pass through, so existing tasks keep running.
    if (text(p.metadata?.encoding) !== ENCRYPTED_ENCODING) return p;
    const keyId = text(p.metadata?.[KEY_ID_METADATA]);
    if (!keyId) throw new PayloadDecryptionError(`encrypted payload has no ${KEY_ID_METADATA} metadata`);
    const key = this.byId.get(keyId);
    if (!key) throw new UnknownEncryptionKeyError(keyId, [...this.byId.keys()]);
    const cipherName = text(p.metadata?.[CIPHER_METADATA]);
    if (cipherName !== undefined && cipherName !== CIPHER) throw new PayloadDecryptionError(`unsupported cipher ${cipherName}`);
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload is too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch (err) {
      throw new PayloadDecryptionError(`payload sealed with key ${JSON.stringify(keyId)} does not decrypt (wrong key bytes or tampered)`, {
        cause: err,
      });
    }
  }
}

/** The codec the settings ask for (TIDEWAY_CODEC_KEYS / TIDEWAY_CODEC_KEYS_FILE), or undefined when encryption is off. */
export function codecOf(s: Pick<Settings, 'codec'>): AesGcmCodec | undefined {
  const keys = codecKeysOf(s.codec);
  return keys.length > 0 ? new AesGcmCodec(keys) : undefined;
}

/**
 * The data converter of every Client and Worker of a process with these settings: `{}` (the SDK's
 * default) when encryption is off. Workflow code never sees the codec: the worker runs it outside
 * the sandbox.
 */
export function dataConverterOf(s: Pick<Settings, 'codec'>): DataConverter {
  const codec = codecOf(s);
  return codec ? { payloadCodecs: [codec] } : {};
}
