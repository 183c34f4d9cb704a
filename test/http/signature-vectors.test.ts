import { createPublicKey } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { contentDigest, verifyContentDigest } from '../../src/http/content-digest.js';
import { signatureBase } from '../../src/http/signature-base.js';
import { parseSignatureFields } from '../../src/http/signature-fields.js';
import {
  createSignature,
  decodeSecret,
  readEd25519PrivateKey,
  readEd25519PublicKey,
  verifySignature,
  type SigningKey,
  type VerificationKey,
} from '../../src/http/signature-keys.js';
import {
  B25,
  B26,
  B4,
  BODY,
  BODY_SHA256,
  BODY_SHA512,
  ED25519_JWK,
  ED25519_PRIVATE_PEM,
  ED25519_PUBLIC_PEM,
  SHARED_SECRET,
  type SignatureExample,
} from './rfc9421-vectors.js';

const hmacSecret = decodeSecret(SHARED_SECRET, 'base64');
const ed25519Private = readEd25519PrivateKey(ED25519_PRIVATE_PEM);

const cases: Array<{ example: SignatureExample; signing: SigningKey; verifying: VerificationKey }> =
  [
    {
      example: B25,
      signing: { algorithm: 'hmac-sha256', secret: hmacSecret },
      verifying: { id: 'test-shared-secret', algorithm: 'hmac-sha256', secret: hmacSecret },
    },
    {
      example: B26,
      signing: { algorithm: 'ed25519', privateKey: ed25519Private },
      verifying: {
        id: 'test-key-ed25519',
        algorithm: 'ed25519',
        publicKey: readEd25519PublicKey(ED25519_PUBLIC_PEM),
      },
    },
    {
      example: B4,
      signing: { algorithm: 'ed25519', privateKey: ed25519Private },
      verifying: {
        id: 'test-key-ed25519',
        algorithm: 'ed25519',
        publicKey: readEd25519PublicKey({ kty: 'OKP', crv: 'Ed25519', x: ED25519_JWK.x }),
      },
    },
  ];

/** Parses an example's two fields and returns its only signature. */
function parsedSignature(example: SignatureExample) {
  const parsed = parseSignatureFields(example.signatureInput, example.signature);
  if (!parsed.ok) throw new Error(parsed.detail);
  expect(parsed.signatures).toHaveLength(1);
  return parsed.signatures[0]!;
}

describe.each(cases)('RFC 9421 $example.section', ({ example, signing, verifying }) => {
  it('rebuilds the signature base byte for byte', () => {
    const signature = parsedSignature(example);
    const base = signatureBase(
      example.request,
      signature.components,
      signature.serializedParameters,
    );
    expect(base).toEqual({ ok: true, base: example.base });
  });

  it('verifies the published signature', () => {
    const signature = parsedSignature(example);
    expect(verifySignature(verifying, example.base, signature.signature!)).toBe(true);
  });

  it('signs to the published value', () => {
    // hmac-sha256 and Ed25519 are deterministic, so a fresh signature equals the RFC's.
    const signature = parsedSignature(example);
    expect(createSignature(signing, example.base).equals(signature.signature!)).toBe(true);
  });

  it('rejects a base with one byte changed', () => {
    const signature = parsedSignature(example);
    const tampered = example.base.replace('"@authority": example', '"@authority": exbmple');
    expect(tampered).not.toBe(example.base);
    expect(verifySignature(verifying, tampered, signature.signature!)).toBe(false);
  });
});

describe('RFC 9530 content digests', () => {
  it('computes the published sha-256 and sha-512 values', () => {
    expect(contentDigest(Buffer.from(BODY), 'sha-256')).toBe(BODY_SHA256);
    expect(contentDigest(Buffer.from(BODY), 'sha-512')).toBe(BODY_SHA512);
  });

  it('accepts a field with both digests', () => {
    const field = `${BODY_SHA256}, ${BODY_SHA512}`;
    expect(verifyContentDigest(field, Buffer.from(BODY), ['sha-256', 'sha-512'])).toEqual({
      ok: true,
      algorithm: 'sha-256',
    });
  });

  it('rejects a body that differs by one byte', () => {
    const result = verifyContentDigest(BODY_SHA512, Buffer.from(BODY.replace('world', 'World')), [
      'sha-512',
    ]);
    expect(result).toMatchObject({ ok: false, reason: 'digest_mismatch' });
  });

  it('rejects a field with only an unaccepted algorithm', () => {
    const result = verifyContentDigest(BODY_SHA512, Buffer.from(BODY), ['sha-256']);
    expect(result).toMatchObject({ ok: false, reason: 'unsupported_digest' });
  });

  it('rejects a mismatching digest even next to a matching one', () => {
    const wrong = 'sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:';
    const result = verifyContentDigest(`${wrong}, ${BODY_SHA512}`, Buffer.from(BODY), [
      'sha-256',
      'sha-512',
    ]);
    expect(result).toMatchObject({ ok: false, reason: 'digest_mismatch' });
  });

  it('rejects missing and malformed fields', () => {
    expect(verifyContentDigest(undefined, Buffer.from(BODY), ['sha-256'])).toMatchObject({
      reason: 'missing_digest',
    });
    expect(verifyContentDigest('sha-256=X48E9q', Buffer.from(BODY), ['sha-256'])).toMatchObject({
      reason: 'malformed_digest',
    });
    expect(verifyContentDigest('sha-256="text"', Buffer.from(BODY), ['sha-256'])).toMatchObject({
      reason: 'malformed_digest',
    });
  });
});

describe('Ed25519 key reading', () => {
  it('reads the same key from PEM and JWK', () => {
    const fromPem = readEd25519PublicKey(ED25519_PUBLIC_PEM);
    const fromJwk = readEd25519PublicKey(
      JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: ED25519_JWK.x }),
    );
    expect(fromPem.equals(fromJwk)).toBe(true);
  });

  it('refuses private key material for verification', () => {
    expect(() => readEd25519PublicKey(ED25519_PRIVATE_PEM)).toThrow(/private key/);
    expect(() => readEd25519PublicKey(ED25519_JWK)).toThrow(/private key/);
  });

  it('refuses keys of other types', () => {
    const ecKey = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: 'qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA',
        y: 'Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0',
      },
      format: 'jwk',
    });
    const pem = ecKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => readEd25519PublicKey(pem)).toThrow(/not Ed25519/);
  });
});
