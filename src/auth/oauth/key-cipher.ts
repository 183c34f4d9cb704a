import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

import { BulwarkError } from '../../core/errors.js';

const FORMAT = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// HKDF info separates this key from any other key derived from the pepper.
const HKDF_INFO = 'bulwark oauth signing-key encryption v1';
const HKDF_SALT = 'bulwark';

/** A stored private key that cannot be decrypted, usually because the pepper changed. */
export class SigningKeyDecryptError extends BulwarkError {
  constructor(kid: string) {
    super(
      'BWK_ERR_OAUTH_SIGNING_KEY',
      `cannot decrypt the stored private key of signing key ${kid}: the pepper differs from the one it was encrypted with, or the record is damaged`,
    );
  }
}

/**
 * Encrypts signing private keys before they reach the store, with AES-256-GCM under a key
 * that HKDF-SHA256 derives from the server pepper. A copy of the store alone therefore does
 * not let anyone sign tokens. The key id is authenticated data, so a ciphertext moved to
 * another record fails to decrypt.
 */
export class PrivateKeyCipher {
  private readonly key: Buffer;

  constructor(pepper: string | Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', Buffer.from(pepper), HKDF_SALT, HKDF_INFO, 32));
  }

  /** Returns `v1.<iv>.<ciphertext>.<tag>`, each part base64url. */
  encrypt(plaintext: string, kid: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(kid));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, body, cipher.getAuthTag()].map((part) => part.toString('base64url'));
    return [FORMAT, ...parts].join('.');
  }

  /** Throws `SigningKeyDecryptError` when the text was not sealed by this pepper for `kid`. */
  decrypt(sealed: string, kid: string): string {
    const [format, iv, body, tag, ...rest] = sealed.split('.');
    if (format !== FORMAT || iv === undefined || body === undefined || tag === undefined)
      throw new SigningKeyDecryptError(kid);
    if (rest.length > 0) throw new SigningKeyDecryptError(kid);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(kid));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch {
      throw new SigningKeyDecryptError(kid);
    }
  }
}
