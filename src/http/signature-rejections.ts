import { serializeDictionary, type Item } from 'structured-headers';

import type { Reject } from '../core/guard.js';
import { problem } from '../core/problem.js';
import type { DigestFailure } from './content-digest.js';
import type { SignaturePolicy } from './signature-policy.js';

/** Why a request signature was rejected: a stable code in problem bodies and events. */
export type SignatureFailure =
  | 'missing_signature'
  | 'malformed_signature'
  | 'unknown_key'
  | 'algorithm_mismatch'
  | 'tag_mismatch'
  | 'missing_component'
  | 'unsupported_component'
  | 'missing_created'
  | 'created_in_future'
  | 'expired'
  | 'missing_nonce'
  | 'bad_signature'
  | 'replay'
  | DigestFailure;

const CODES: Partial<Record<SignatureFailure, string>> = {
  missing_signature: 'BWK_ERR_SIGNATURE_REQUIRED',
  unknown_key: 'BWK_ERR_SIGNATURE_UNKNOWN_KEY',
  created_in_future: 'BWK_ERR_SIGNATURE_EXPIRED',
  expired: 'BWK_ERR_SIGNATURE_EXPIRED',
  replay: 'BWK_ERR_SIGNATURE_REPLAYED',
  missing_digest: 'BWK_ERR_CONTENT_DIGEST',
  malformed_digest: 'BWK_ERR_CONTENT_DIGEST',
  unsupported_digest: 'BWK_ERR_CONTENT_DIGEST',
  digest_mismatch: 'BWK_ERR_CONTENT_DIGEST',
};

// A replayed request is a captured, valid request sent again: a clear sign of an attack.
// A bad signature, a changed body or an unknown key may be an attack or a broken client.
const SEVERITY: Partial<Record<SignatureFailure, 'medium' | 'high'>> = {
  replay: 'high',
  bad_signature: 'medium',
  digest_mismatch: 'medium',
  unknown_key: 'medium',
};

/**
 * Returns the 401 rejection for a failed signature check. `Accept-Signature` (RFC 9421
 * section 5.1) lists the components the route requires to be signed.
 */
export function signatureRejection(
  failure: { reason: SignatureFailure; detail: string; keyId?: string },
  policy: SignaturePolicy,
  withBody: boolean,
): Reject {
  const { reason, detail, keyId } = failure;
  const details: Record<string, unknown> = { reason };
  if (keyId !== undefined) details.keyId = keyId;
  return {
    action: 'reject',
    status: 401,
    headers: { 'accept-signature': acceptSignature(policy, withBody) },
    problem: problem(
      'invalid-signature',
      401,
      'Unauthorized',
      CODES[reason] ?? 'BWK_ERR_SIGNATURE_INVALID',
      { detail: `The request signature was rejected: ${detail}.`, reason },
    ),
    event: {
      type: 'http.signature_rejected',
      category: 'authentication',
      severity: SEVERITY[reason] ?? 'low',
      details,
    },
  };
}

/** Returns the 503 rejection for a nonce that could not be checked against the replay cache. */
export function unavailable(keyId: string): Reject {
  return {
    action: 'reject',
    status: 503,
    headers: { 'retry-after': '5' },
    problem: problem(
      'signature-nonce-unavailable',
      503,
      'Service Unavailable',
      'BWK_ERR_SIGNATURE_UNAVAILABLE',
      {
        detail:
          'The signature nonce could not be checked against the replay cache, so the request was not accepted. Retry later with a new nonce.',
      },
    ),
    event: {
      type: 'http.signature_rejected',
      category: 'system',
      severity: 'medium',
      details: { reason: 'nonce_store_unavailable', keyId },
    },
  };
}

/** Returns the Accept-Signature value that describes what a route wants signed. */
export function acceptSignature(policy: SignaturePolicy, withBody: boolean): string {
  const components = withBody ? [...policy.components, 'content-digest'] : policy.components;
  const items: Item[] = [...new Set(components)].map((name) => [name, new Map()]);
  const parameters = new Map<string, string>();
  if (policy.tag !== undefined) parameters.set('tag', policy.tag);
  return serializeDictionary(new Map([['sig', [items, parameters]]]));
}
