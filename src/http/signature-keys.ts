/**
 * Keys and algorithms of HTTP Message Signatures: `hmac-sha256` with a shared secret and
 * `ed25519` with a key pair (RFC 9421 sections 3.3.3 and 3.3.6). Secrets live in KeyObjects,
 * which never print their bytes in logs or error messages.
 */
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  sign,
  timingSafeEqual,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

export const signatureAlgorithms = ['hmac-sha256', 'ed25519'] as const;
export type SignatureAlgorithm = (typeof signatureAlgorithms)[number];

/** Encodings of an HMAC secret held in an environment variable or a file. */
export const secretEncodings = ['base64', 'base64url', 'hex', 'utf8'] as const;
export type SecretEncoding = (typeof secretEncodings)[number];

/**
 * Shortest HMAC secret accepted, in bytes. RFC 2104 advises a key no shorter than the hash
 * output, 32 bytes for SHA-256.
 */
export const MIN_HMAC_SECRET_BYTES = 32;

/** A key that checks signatures: a shared secret or an Ed25519 public key. */
export type VerificationKey =
  | { id: string; algorithm: 'hmac-sha256'; secret: KeyObject }
  | { id: string; algorithm: 'ed25519'; publicKey: KeyObject };

/** A key that makes signatures: a shared secret or an Ed25519 private key. */
export type SigningKey =
  { algorithm: 'hmac-sha256'; secret: KeyObject } | { algorithm: 'ed25519'; privateKey: KeyObject };

/** Returns the signature of `base` (the signature base as UTF-8 text). */
export function createSignature(key: SigningKey, base: string): Buffer {
  if (key.algorithm === 'hmac-sha256')
    return createHmac('sha256', key.secret).update(base).digest();
  return sign(null, Buffer.from(base), key.privateKey);
}

/**
 * Checks a signature over `base`. The HMAC comparison is constant-time, so its duration
 * reveals nothing about how many bytes of a forged signature were right.
 */
export function verifySignature(key: VerificationKey, base: string, signature: Buffer): boolean {
  if (key.algorithm === 'hmac-sha256') {
    const expected = createHmac('sha256', key.secret).update(base).digest();
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  }
  // An Ed25519 signature is 64 bytes; other lengths are refused before any curve arithmetic.
  return signature.length === 64 && verify(null, Buffer.from(base), key.publicKey, signature);
}

/**
 * Decodes an HMAC secret and checks its length. Throws an Error naming the problem (never the
 * secret) when the text is not in `encoding` or too short.
 */
export function decodeSecret(text: string, encoding: SecretEncoding): KeyObject {
  const trimmed = text.trim();
  let bytes: Buffer;
  if (encoding === 'utf8') {
    bytes = Buffer.from(trimmed, 'utf8');
  } else {
    const pattern = SECRET_PATTERNS[encoding];
    if (!pattern.test(trimmed)) throw new Error(`the secret is not valid ${encoding}`);
    bytes = Buffer.from(trimmed, encoding);
  }
  if (bytes.length < MIN_HMAC_SECRET_BYTES) {
    throw new Error(
      `the secret is ${bytes.length} bytes after ${encoding} decoding; at least ${MIN_HMAC_SECRET_BYTES} are required (e.g. openssl rand -base64 32)`,
    );
  }
  return createSecretKey(bytes);
}

const SECRET_PATTERNS: Record<Exclude<SecretEncoding, 'utf8'>, RegExp> = {
  base64: /^[A-Za-z0-9+/]+={0,2}$/,
  base64url: /^[A-Za-z0-9_-]+$/,
  hex: /^(?:[0-9a-fA-F]{2})+$/,
};

/**
 * Reads an Ed25519 public key from PEM text (SPKI, `BEGIN PUBLIC KEY`) or JWK JSON
 * (`{"kty":"OKP","crv":"Ed25519","x":…}`). Private key material is refused, because a
 * verifier has no use for it and a configuration file is a poor place to keep it.
 */
export function readEd25519PublicKey(text: string | JsonWebKey): KeyObject {
  const jwk = typeof text === 'string' ? jsonKey(text) : text;
  let key: KeyObject;
  if (jwk !== undefined) {
    if (jwk.d !== undefined)
      throw new Error('the JWK contains a private key (d); configure the public key only');
    key = parseKey(() => createPublicKey({ key: jwk, format: 'jwk' }), 'JWK');
  } else {
    const pem = text as string;
    if (/PRIVATE KEY/.test(pem)) {
      throw new Error(
        'the PEM contains a private key; configure the public key (BEGIN PUBLIC KEY) only',
      );
    }
    key = parseKey(() => createPublicKey(pem), 'PEM public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`the key is ${key.asymmetricKeyType ?? 'not asymmetric'}, not Ed25519`);
  }
  return key;
}

/** Reads an Ed25519 private key from PEM text (PKCS #8) or a JWK with `d`. */
export function readEd25519PrivateKey(text: string): KeyObject {
  const jwk = jsonKey(text);
  const key =
    jwk !== undefined
      ? parseKey(() => createPrivateKey({ key: jwk, format: 'jwk' }), 'JWK private key')
      : parseKey(() => createPrivateKey(text), 'PEM private key');
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`the key is ${key.asymmetricKeyType ?? 'not asymmetric'}, not Ed25519`);
  }
  return key;
}

function jsonKey(text: string): JsonWebKey | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    return JSON.parse(text) as JsonWebKey;
  } catch {
    throw new Error('the key looks like JSON but does not parse as a JWK');
  }
}

// Node's own messages name the ASN.1 or JWK problem but may be long; the kind of key
// expected is what the operator needs first.
function parseKey(read: () => KeyObject, what: string): KeyObject {
  try {
    return read();
  } catch (error) {
    throw new Error(`not a valid ${what}: ${(error as Error).message}`);
  }
}
