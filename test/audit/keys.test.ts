import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  AUDIT_KEY_ENV,
  AuditKeyError,
  exportPublicKeys,
  generateAuditKeys,
  keyFilePath,
  listAuditKeys,
  loadAuditKeys,
  loadPublicKeys,
  rotateAuditKey,
  signingKeyId,
} from '../../src/audit/keys.js';

let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bwk-audit-keys-'));
  dir = join(root, 'audit-keys');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('generateAuditKeys', () => {
  it('creates folder 0700 and key files 0600', () => {
    const created = generateAuditKeys(dir);

    expect(created).toEqual(['hmac', 'signing', 'encryption']);
    expect(mode(dir)).toBe(0o700);
    for (const kind of ['hmac', 'signing', 'encryption'] as const) {
      expect(mode(keyFilePath(dir, kind))).toBe(0o600);
    }
  });

  it('leaves existing key files unchanged', () => {
    generateAuditKeys(dir);
    const before = readFileSync(keyFilePath(dir, 'hmac'), 'utf8');

    expect(generateAuditKeys(dir)).toEqual([]);
    expect(readFileSync(keyFilePath(dir, 'hmac'), 'utf8')).toBe(before);
  });

  it('loads with generate on first start', () => {
    const keys = loadAuditKeys({ dir, env: {}, generate: true });

    expect(keys.hmac.current.key.length).toBe(32);
    expect(keys.encryption?.current.key.length).toBe(32);
    expect(keys.signing.privateKey.asymmetricKeyType).toBe('ed25519');
    expect(keys.sources).toEqual({ hmac: 'file', signing: 'file', encryption: 'file' });
  });
});

describe('loadAuditKeys', () => {
  it('returns the same keys on every load', () => {
    generateAuditKeys(dir);
    const first = loadAuditKeys({ dir, env: {} });
    const second = loadAuditKeys({ dir, env: {} });

    expect(second.hmac.current.kid).toBe(first.hmac.current.kid);
    expect(second.hmac.current.key.equals(first.hmac.current.key)).toBe(true);
    expect(second.signing.kid).toBe(first.signing.kid);
    expect(second.encryption?.current.kid).toBe(first.encryption?.current.kid);
  });

  it('signing key id is derived from the public key', () => {
    const keys = loadAuditKeys({ dir, env: {}, generate: true });

    expect(keys.signing.kid).toMatch(/^ed25519-[0-9a-f]{16}$/);
    expect(signingKeyId(keys.signing.publicKey)).toBe(keys.signing.kid);
    const signature = sign(null, Buffer.from('checkpoint'), keys.signing.privateKey);
    expect(verify(null, Buffer.from('checkpoint'), keys.signing.publicKey, signature)).toBe(true);
  });

  it('missing keys raise an error naming the fix', () => {
    expect(() => loadAuditKeys({ dir, env: {} })).toThrow(AuditKeyError);
    expect(() => loadAuditKeys({ dir, env: {} })).toThrow(/bulwark audit keys generate/);
  });

  it('encryption is undefined without its file', () => {
    generateAuditKeys(dir);
    rmSync(keyFilePath(dir, 'encryption'));

    expect(loadAuditKeys({ dir, env: {} }).encryption).toBeUndefined();
  });

  it('rejects a key file readable by others', () => {
    generateAuditKeys(dir);
    chmodSync(keyFilePath(dir, 'hmac'), 0o644);

    expect(() => loadAuditKeys({ dir, env: {} })).toThrow(/accessible to other users.*chmod 600/);
  });

  it('rejects a damaged key file', () => {
    generateAuditKeys(dir);
    writeFileSync(keyFilePath(dir, 'signing'), '{"kind":"signing"', { mode: 0o600 });

    expect(() => loadAuditKeys({ dir, env: {} })).toThrow(/not valid JSON/);
  });

  it('rejects a signing file whose key id was edited', () => {
    generateAuditKeys(dir);
    const path = keyFilePath(dir, 'signing');
    const stored = JSON.parse(readFileSync(path, 'utf8')) as { keys: { kid: string }[] };
    stored.keys[0]!.kid = 'ed25519-0000000000000000';
    writeFileSync(path, JSON.stringify(stored), { mode: 0o600 });

    expect(() => loadAuditKeys({ dir, env: {} })).toThrow(AuditKeyError);
  });
});

describe('environment keys', () => {
  const hmacA = randomBytes(32).toString('base64');
  const hmacB = randomBytes(48).toString('base64');
  const encryption = randomBytes(32).toString('base64');

  it('reads hmac, encryption and signing keys from the environment', () => {
    const pair = generateKeyPairSync('ed25519');
    const retired = generateKeyPairSync('ed25519');
    const env = {
      [AUDIT_KEY_ENV.hmac]: `h2:${hmacB},h1:${hmacA}`,
      [AUDIT_KEY_ENV.encryption]: `e1:${encryption}`,
      [AUDIT_KEY_ENV.signing]: pair.privateKey
        .export({ type: 'pkcs8', format: 'der' })
        .toString('base64'),
      [AUDIT_KEY_ENV.signingPublic]: retired.publicKey
        .export({ type: 'spki', format: 'der' })
        .toString('base64'),
    };

    const keys = loadAuditKeys({ dir, env });

    expect(keys.sources).toEqual({ hmac: 'env', signing: 'env', encryption: 'env' });
    expect(keys.hmac.current.kid).toBe('h2');
    expect(keys.hmac.byId('h1')?.key.equals(Buffer.from(hmacA, 'base64'))).toBe(true);
    expect(keys.encryption?.current.kid).toBe('e1');
    expect(keys.signing.kid).toBe(signingKeyId(pair.publicKey));
    expect(keys.signing.publicKeyById(signingKeyId(retired.publicKey))).toBeDefined();
  });

  it('environment takes precedence over files per kind', () => {
    generateAuditKeys(dir);
    const fromFile = loadAuditKeys({ dir, env: {} });

    const keys = loadAuditKeys({ dir, env: { [AUDIT_KEY_ENV.hmac]: `envkey:${hmacA}` } });

    expect(keys.hmac.current.kid).toBe('envkey');
    expect(keys.sources.hmac).toBe('env');
    expect(keys.signing.kid).toBe(fromFile.signing.kid);
    expect(keys.sources.signing).toBe('file');
  });

  it('generate skips kinds given in the environment', () => {
    loadAuditKeys({ dir, env: { [AUDIT_KEY_ENV.hmac]: `envkey:${hmacA}` }, generate: true });

    expect(() => statSync(keyFilePath(dir, 'hmac'))).toThrow();
    expect(mode(keyFilePath(dir, 'signing'))).toBe(0o600);
  });

  it('rejects short, malformed and wrongly sized keys', () => {
    const short = randomBytes(16).toString('base64');
    const cases: [Record<string, string>, RegExp][] = [
      [{ [AUDIT_KEY_ENV.hmac]: `h1:${short}` }, /at least 32/],
      [{ [AUDIT_KEY_ENV.hmac]: hmacA }, /kid:base64/],
      [{ [AUDIT_KEY_ENV.hmac]: `h.1:${hmacA}` }, /key id/],
      [{ [AUDIT_KEY_ENV.hmac]: `h1:not*base64` }, /base64/],
      [{ [AUDIT_KEY_ENV.hmac]: `h1:${hmacA},h1:${hmacB}` }, /twice/],
      [
        { [AUDIT_KEY_ENV.hmac]: `h1:${hmacA}`, [AUDIT_KEY_ENV.encryption]: `e1:${hmacB}` },
        /exactly 32/,
      ],
      [{ [AUDIT_KEY_ENV.hmac]: `h1:${hmacA}`, [AUDIT_KEY_ENV.signing]: hmacA }, /not a valid key/],
    ];
    for (const [env, message] of cases) {
      expect(() => loadAuditKeys({ dir, env }), JSON.stringify(Object.keys(env))).toThrow(message);
    }
  });

  it('rejects a signing key that is not Ed25519', () => {
    const rsa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const env = {
      [AUDIT_KEY_ENV.hmac]: `h1:${hmacA}`,
      [AUDIT_KEY_ENV.signing]: rsa.privateKey
        .export({ type: 'pkcs8', format: 'der' })
        .toString('base64'),
    };

    expect(() => loadAuditKeys({ dir, env })).toThrow(/Ed25519/);
  });
});

describe('rotateAuditKey', () => {
  it('rotated hmac and encryption keys keep old ids readable', () => {
    generateAuditKeys(dir);
    const before = loadAuditKeys({ dir, env: {} });

    const hmac = rotateAuditKey(dir, 'hmac');
    const encryption = rotateAuditKey(dir, 'encryption');
    const after = loadAuditKeys({ dir, env: {} });

    expect(hmac.previous).toBe(before.hmac.current.kid);
    expect(after.hmac.current.kid).toBe(hmac.kid);
    expect(after.hmac.current.kid).not.toBe(before.hmac.current.kid);
    expect(after.hmac.byId(before.hmac.current.kid)?.key.equals(before.hmac.current.key)).toBe(
      true,
    );
    expect(after.encryption?.current.kid).toBe(encryption.kid);
    expect(after.encryption?.byId(encryption.previous)).toBeDefined();
    expect(mode(keyFilePath(dir, 'hmac'))).toBe(0o600);
  });

  it('rotated signing key keeps only the old public key', () => {
    generateAuditKeys(dir);
    const before = loadAuditKeys({ dir, env: {} });
    const oldSignature = sign(null, Buffer.from('root'), before.signing.privateKey);

    const rotated = rotateAuditKey(dir, 'signing');
    const after = loadAuditKeys({ dir, env: {} });

    expect(after.signing.kid).toBe(rotated.kid);
    expect(rotated.previous).toBe(before.signing.kid);
    const oldPublic = after.signing.publicKeyById(before.signing.kid);
    expect(oldPublic).toBeDefined();
    expect(verify(null, Buffer.from('root'), oldPublic!, oldSignature)).toBe(true);
    const stored = readFileSync(keyFilePath(dir, 'signing'), 'utf8');
    expect(stored.match(/BEGIN PRIVATE KEY/g)).toHaveLength(1);
    expect(after.signing.ids).toEqual([rotated.kid, before.signing.kid]);
  });

  it('rotation without a key file raises', () => {
    expect(() => rotateAuditKey(dir, 'hmac')).toThrow(AuditKeyError);
  });
});

describe('listAuditKeys and public key export', () => {
  it('lists every key without key material', () => {
    generateAuditKeys(dir);
    rotateAuditKey(dir, 'hmac');

    const list = listAuditKeys(dir, {});

    expect(list.filter((info) => info.kind === 'hmac')).toHaveLength(2);
    expect(list.filter((info) => info.current)).toHaveLength(3);
    expect(list.every((info) => info.source === 'file' && typeof info.created === 'string')).toBe(
      true,
    );
    expect(JSON.stringify(list)).not.toMatch(/key"|PRIVATE/);
  });

  it('exported PEM loads back by key id', () => {
    generateAuditKeys(dir);
    const before = loadAuditKeys({ dir, env: {} });
    rotateAuditKey(dir, 'signing');
    const keys = loadAuditKeys({ dir, env: {} });

    const current = exportPublicKeys(keys);
    const all = exportPublicKeys(keys, { all: true });

    expect(current.match(/BEGIN PUBLIC KEY/g)).toHaveLength(1);
    expect(all.match(/BEGIN PUBLIC KEY/g)).toHaveLength(2);
    const lookup = loadPublicKeys(all);
    expect(lookup(keys.signing.kid)).toBeDefined();
    expect(lookup(before.signing.kid)).toBeDefined();
    expect(loadPublicKeys(current)(before.signing.kid)).toBeUndefined();
    expect(() => exportPublicKeys(keys, { kid: 'ed25519-ffffffffffffffff' })).toThrow(
      AuditKeyError,
    );
  });

  it('public key loading rejects text without a key', () => {
    expect(() => loadPublicKeys('hello')).toThrow(/no PEM public key/);
  });
});
