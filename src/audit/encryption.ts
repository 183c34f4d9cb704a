import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

import { BulwarkError } from '../core/errors.js';
import { KEY_ID_PATTERN, type SecretKeyRing } from './keys.js';

/**
 * Encryption of audit record fields at rest with AES-256-GCM.
 *
 * The text form is `v1.<kid>.<iv>.<tag>.<ciphertext>`, the last three in base64url without
 * padding. The key id selects the key, so records encrypted before a rotation still decrypt
 * while the retired key stays in the key ring. The authenticated data is `v1.<kid>.`
 * followed by the caller's AAD, for example the record's sequence number and field name.
 * Changing the version or key id, or moving the value to another record or field, therefore
 * makes decryption fail.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Max text length that `decrypt` parses. An audit record field is far smaller. */
export const MAX_ENCRYPTED_TEXT_LENGTH = 16 * 1024 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** IVs drawn per call to the CSPRNG, because one call per field costs more than the encryption. */
const IV_POOL_SIZE = 256;

export type DecryptionFailure = 'malformed' | 'unknown_key' | 'authentication_failed';

/** A value that cannot be decrypted; `reason` names the cause. The message never contains the value. */
export class AuditDecryptionError extends BulwarkError {
  constructor(
    readonly reason: DecryptionFailure,
    message: string,
    readonly kid?: string,
  ) {
    super('BWK_ERR_AUDIT_DECRYPT', message);
  }
}

/** Encrypts and decrypts audit record fields with the keys of an encryption key ring. */
export class RecordCipher {
  private readonly ivPool = Buffer.alloc(IV_BYTES * IV_POOL_SIZE);
  private ivOffset = this.ivPool.length;
  /** `v1.<kid>.` of the current key, the fixed head of every AAD and text it writes. */
  private prefixKid = '';
  private prefix = Buffer.alloc(0);

  constructor(private readonly keys: SecretKeyRing) {}

  /** Id of the key that `encrypt` uses. */
  get kid(): string {
    return this.keys.current.kid;
  }

  /** Encrypts with the current key and a random 96-bit IV, bound to `aad`. */
  encrypt(plaintext: Buffer | string, aad: Buffer): string {
    const { kid, key } = this.keys.current;
    const iv = this.nextIv();
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.concat([this.prefixOf(kid), aad]));
    const head = cipher.update(plaintext);
    // GCM is a stream mode, so `final` returns no bytes and the copy is skipped.
    const tail = cipher.final();
    const ciphertext = tail.length === 0 ? head : Buffer.concat([head, tail]);
    const tag = cipher.getAuthTag();
    return `${VERSION}.${kid}.${encode(iv)}.${encode(tag)}.${encode(ciphertext)}`;
  }

  /**
   * Decrypts text from `encrypt` with the key it names. Throws `AuditDecryptionError` when
   * the text is malformed, names a key the ring lacks, or fails authentication (a wrong key,
   * a different AAD, or any change to the text).
   */
  decrypt(text: string, aad: Buffer): Buffer {
    const parts = parse(text);
    const entry = this.keys.byId(parts.kid);
    if (entry === undefined)
      throw new AuditDecryptionError(
        'unknown_key',
        `The encryption key "${parts.kid}" is not in the key ring; restore it to read this value.`,
        parts.kid,
      );
    const decipher = createDecipheriv('aes-256-gcm', entry.key, parts.iv, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(boundAad(parts.kid, aad));
    decipher.setAuthTag(parts.tag);
    try {
      return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
    } catch {
      throw new AuditDecryptionError(
        'authentication_failed',
        `The value encrypted with key "${parts.kid}" failed authentication: it was changed, or the key or associated data differ.`,
        parts.kid,
      );
    }
  }

  /** Encrypts the JSON form of a value. */
  encryptJson(value: unknown, aad: Buffer): string {
    return this.encrypt(JSON.stringify(value), aad);
  }

  /** Decrypts a value from `encryptJson`. */
  decryptJson(text: string, aad: Buffer): unknown {
    const plaintext = this.decrypt(text, aad);
    try {
      return JSON.parse(plaintext.toString('utf8')) as unknown;
    } catch {
      throw new AuditDecryptionError('malformed', 'The decrypted value is not valid JSON.');
    }
  }

  /**
   * Returns a fresh random 96-bit IV. The pool is filled from the CSPRNG and every IV is
   * used once, so the IVs are as random as one `randomBytes` call per value.
   */
  private nextIv(): Buffer {
    if (this.ivOffset === this.ivPool.length) {
      randomFillSync(this.ivPool);
      this.ivOffset = 0;
    }
    // A copy, because the pool is overwritten once it is used up.
    const iv = Buffer.from(this.ivPool.subarray(this.ivOffset, this.ivOffset + IV_BYTES));
    this.ivOffset += IV_BYTES;
    return iv;
  }

  private prefixOf(kid: string): Buffer {
    if (kid !== this.prefixKid) {
      this.prefix = Buffer.from(`${VERSION}.${kid}.`, 'utf8');
      this.prefixKid = kid;
    }
    return this.prefix;
  }
}

/** Returns whether a value has the text form of an encrypted field, without decrypting it. */
export function isEncryptedText(value: unknown): value is string {
  return (
    typeof value === 'string' && value.startsWith(`${VERSION}.`) && value.split('.').length === 5
  );
}

/** Returns the key id an encrypted text names, or undefined if it is not one. */
export function encryptedKeyId(text: string): string | undefined {
  if (!isEncryptedText(text)) return undefined;
  const kid = text.split('.')[1]!;
  return KEY_ID_PATTERN.test(kid) ? kid : undefined;
}

function boundAad(kid: string, aad: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${VERSION}.${kid}.`, 'utf8'), aad]);
}

function parse(text: string): { kid: string; iv: Buffer; tag: Buffer; ciphertext: Buffer } {
  if (typeof text !== 'string' || text.length > MAX_ENCRYPTED_TEXT_LENGTH)
    throw malformed('is not a string of at most 16 MiB');
  const parts = text.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION)
    throw malformed(`does not have the form ${VERSION}.<kid>.<iv>.<tag>.<ciphertext>`);
  const [, kid, iv, tag, ciphertext] = parts as [string, string, string, string, string];
  if (!KEY_ID_PATTERN.test(kid)) throw malformed('has an invalid key id');
  if (![iv, tag, ciphertext].every((part) => BASE64URL.test(part)))
    throw malformed('is not base64url in its last three parts');
  const decoded = {
    kid,
    iv: Buffer.from(iv, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
    ciphertext: Buffer.from(ciphertext, 'base64url'),
  };
  // A shorter tag would let a forger try far fewer values, so both lengths are checked
  // before decryption.
  if (decoded.iv.length !== IV_BYTES || decoded.tag.length !== TAG_BYTES)
    throw malformed(`needs a ${IV_BYTES}-byte IV and a ${TAG_BYTES}-byte tag`);
  return decoded;
}

function malformed(problem: string): AuditDecryptionError {
  return new AuditDecryptionError('malformed', `The encrypted value ${problem}.`);
}

function encode(bytes: Buffer): string {
  return bytes.toString('base64url');
}
