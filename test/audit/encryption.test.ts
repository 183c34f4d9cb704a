import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  AuditDecryptionError,
  RecordCipher,
  encryptedKeyId,
  isEncryptedText,
} from '../../src/audit/encryption.js';
import type { SecretKey, SecretKeyRing } from '../../src/audit/keys.js';

function ring(current: SecretKey, ...retired: SecretKey[]): SecretKeyRing {
  const all = [current, ...retired];
  return {
    current,
    ids: all.map((key) => key.kid),
    byId: (kid) => all.find((key) => key.kid === kid),
  };
}

const key = (kid: string): SecretKey => ({ kid, key: randomBytes(32) });
const aad = Buffer.from('seq=42;field=details');

function decryptFailure(cipher: RecordCipher, text: string, data: Buffer): AuditDecryptionError {
  try {
    cipher.decrypt(text, data);
  } catch (error) {
    if (error instanceof AuditDecryptionError) return error;
    throw error;
  }
  throw new Error('decrypt succeeded');
}

describe('RecordCipher', () => {
  it('round trip returns the plaintext', () => {
    const cipher = new RecordCipher(ring(key('k1')));
    const plaintext = Buffer.from('{"email":"ada@example.com"}');

    const text = cipher.encrypt(plaintext, aad);

    expect(cipher.decrypt(text, aad).equals(plaintext)).toBe(true);
    expect(text).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(text).not.toContain('ada@example.com');
  });

  it('each encryption uses a fresh IV', () => {
    const cipher = new RecordCipher(ring(key('k1')));
    const first = cipher.encrypt(Buffer.from('same'), aad);
    const second = cipher.encrypt(Buffer.from('same'), aad);

    expect(first.split('.')[2]).not.toBe(second.split('.')[2]);
    expect(first).not.toBe(second);
  });

  it('JSON helpers round trip a value', () => {
    const cipher = new RecordCipher(ring(key('k1')));
    const value = { user: 'ada', scopes: ['read'], n: 3 };

    expect(cipher.decryptJson(cipher.encryptJson(value, aad), aad)).toEqual(value);
  });

  it('old values decrypt after rotation', () => {
    const old = key('k1');
    const before = new RecordCipher(ring(old));
    const text = before.encrypt(Buffer.from('before rotation'), aad);

    const after = new RecordCipher(ring(key('k2'), old));

    expect(after.kid).toBe('k2');
    expect(after.decrypt(text, aad).toString()).toBe('before rotation');
    expect(encryptedKeyId(after.encrypt(Buffer.from('x'), aad))).toBe('k2');
  });

  it('removed key reports unknown_key', () => {
    const text = new RecordCipher(ring(key('k1'))).encrypt(Buffer.from('x'), aad);
    const failure = decryptFailure(new RecordCipher(ring(key('k2'))), text, aad);

    expect(failure.reason).toBe('unknown_key');
    expect(failure.kid).toBe('k1');
    expect(failure.code).toBe('BWK_ERR_AUDIT_DECRYPT');
  });

  it('wrong key with the same id fails authentication', () => {
    const text = new RecordCipher(ring(key('k1'))).encrypt(Buffer.from('x'), aad);

    expect(decryptFailure(new RecordCipher(ring(key('k1'))), text, aad).reason).toBe(
      'authentication_failed',
    );
  });

  it('different AAD fails authentication', () => {
    const cipher = new RecordCipher(ring(key('k1')));
    const text = cipher.encrypt(Buffer.from('x'), aad);

    const failure = decryptFailure(cipher, text, Buffer.from('seq=43;field=details'));

    expect(failure.reason).toBe('authentication_failed');
  });

  it('tampered ciphertext, tag or IV fails authentication', () => {
    const cipher = new RecordCipher(ring(key('k1')));
    const text = cipher.encrypt(Buffer.from('a secret value of some length'), aad);
    const parts = text.split('.');

    for (const index of [2, 3, 4]) {
      const bytes = Buffer.from(parts[index]!, 'base64url');
      bytes[0] = bytes[0]! ^ 0x01;
      const changed = [...parts];
      changed[index] = bytes.toString('base64url');
      expect(decryptFailure(cipher, changed.join('.'), aad).reason, `part ${index}`).toBe(
        'authentication_failed',
      );
    }
  });

  it('key id swapped to another ring key fails authentication', () => {
    const cipher = new RecordCipher(ring(key('k2'), key('k1')));
    const text = cipher.encrypt(Buffer.from('x'), aad);

    const failure = decryptFailure(cipher, text.replace('v1.k2.', 'v1.k1.'), aad);

    expect(failure.reason).toBe('authentication_failed');
  });

  it('malformed text is rejected before decryption', () => {
    const cipher = new RecordCipher(ring(key('k1')));
    const valid = cipher.encrypt(Buffer.from('x'), aad);
    const [, kid, iv, tag, body] = valid.split('.');
    const cases = [
      '',
      'plain text',
      `v2.${kid}.${iv}.${tag}.${body}`,
      `v1.${kid}.${iv}.${tag}`,
      `v1.bad*kid.${iv}.${tag}.${body}`,
      `v1.${kid}.${iv}.${tag!.slice(0, 12)}.${body}`,
      `v1.${kid}.${iv}.${tag}.${body}+/`,
    ];
    for (const text of cases) {
      expect(decryptFailure(cipher, text, aad).reason, text).toBe('malformed');
    }
  });

  it('recognises encrypted text', () => {
    const text = new RecordCipher(ring(key('k1'))).encrypt(Buffer.from('x'), aad);

    expect(isEncryptedText(text)).toBe(true);
    expect(isEncryptedText('v1.only.three')).toBe(false);
    expect(isEncryptedText(42)).toBe(false);
  });
});
