/**
 * Content-Digest (RFC 9530): a dictionary of digests of the message content, such as
 * `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`. A signature that covers the
 * field binds the body to the signature, so checking the digest against the bytes received
 * is what proves the body was not altered.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import { parseDictionary, serializeDictionary, type Dictionary } from 'structured-headers';

/** Digest algorithms of the RFC 9530 registry that are not deprecated. */
export const digestAlgorithms = ['sha-256', 'sha-512'] as const;
export type DigestAlgorithm = (typeof digestAlgorithms)[number];

const NODE_HASH: Record<DigestAlgorithm, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

/** Longest Content-Digest field parsed. Both digests in base64 take under 150 bytes. */
export const MAX_DIGEST_FIELD_LENGTH = 4096;

/** Reason a Content-Digest check failed. */
export type DigestFailure =
  'missing_digest' | 'malformed_digest' | 'unsupported_digest' | 'digest_mismatch';

export type DigestCheck =
  { ok: true; algorithm: DigestAlgorithm } | { ok: false; reason: DigestFailure; detail: string };

/** Returns the digest of `body` with `algorithm`. */
export function digestOf(body: Uint8Array, algorithm: DigestAlgorithm): Buffer {
  return createHash(NODE_HASH[algorithm]).update(body).digest();
}

/** Returns the Content-Digest field value for `body`, e.g. `sha-256=:…:`. */
export function contentDigest(body: Uint8Array, algorithm: DigestAlgorithm = 'sha-256'): string {
  const digest = new Uint8Array(digestOf(body, algorithm));
  return serializeDictionary(new Map([[algorithm, [digest, new Map()]]]));
}

/**
 * Checks a Content-Digest field against the body. At least one digest of an algorithm in
 * `accepted` must be present, and every such digest must match. Digests of other algorithms,
 * such as a deprecated `md5`, are ignored rather than trusted.
 */
export function verifyContentDigest(
  field: string | undefined,
  body: Uint8Array,
  accepted: readonly DigestAlgorithm[],
): DigestCheck {
  if (field === undefined || field.trim() === '') {
    return failure('missing_digest', 'the request has no Content-Digest field');
  }
  const parsed = parseField(field);
  if (parsed === undefined) {
    return failure('malformed_digest', 'Content-Digest is not a structured-field dictionary');
  }

  let matched: DigestAlgorithm | undefined;
  for (const algorithm of accepted) {
    const member = parsed.get(algorithm);
    if (member === undefined) continue;
    const expected = member[0];
    if (!(expected instanceof ArrayBuffer)) {
      return failure('malformed_digest', `Content-Digest ${algorithm} is not a byte sequence`);
    }
    if (!sameBytes(new Uint8Array(expected), digestOf(body, algorithm))) {
      return failure('digest_mismatch', `the ${algorithm} digest does not match the body`);
    }
    matched ??= algorithm;
  }
  if (matched === undefined) {
    return failure(
      'unsupported_digest',
      `Content-Digest has none of the accepted algorithms (${accepted.join(', ')})`,
    );
  }
  return { ok: true, algorithm: matched };
}

function parseField(field: string): Dictionary | undefined {
  if (field.length > MAX_DIGEST_FIELD_LENGTH) return undefined;
  try {
    return parseDictionary(field);
  } catch {
    return undefined;
  }
}

// The digest is public, so the comparison need not be constant-time; timingSafeEqual is
// simply the byte comparison at hand.
function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return left.length === right.length && timingSafeEqual(left, right);
}

function failure(reason: DigestFailure, detail: string): DigestCheck {
  return { ok: false, reason, detail };
}
