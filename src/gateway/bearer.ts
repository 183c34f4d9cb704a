import { createHash, timingSafeEqual } from 'node:crypto';

import type { Problem } from '../core/problem.js';

/** Texts and problem builder for the 401 responses of one endpoint. */
export interface BearerMessages {
  /** `WWW-Authenticate` challenge, e.g. `Bearer realm="bulwark-admin"`. */
  realm: string;
  /** Detail of the 401 when the request has no `Authorization` header. */
  missingDetail: string;
  /** Detail of the 401 when the token does not match. */
  invalidDetail: string;
  /** Builds the endpoint's 401 problem from a detail. */
  unauthorized: (detail: string) => Problem;
}

/** Reason a request was rejected, with the response to send. */
export interface BearerRejection {
  reason: 'missing_token' | 'invalid_token';
  problem: Problem;
  headers: Record<string, string>;
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/**
 * Checks `Authorization: Bearer <token>` against one configured token. Only the SHA-256
 * digest of the token is kept, and the check compares digests, so it is constant-time
 * whatever the length of the presented token.
 */
export class BearerTokenVerifier {
  private readonly digest: Buffer;

  constructor(
    token: string,
    private readonly messages: BearerMessages,
  ) {
    this.digest = sha256(token);
  }

  /** Returns undefined when the header carries the token, else the 401 to send. */
  verify(header: string | undefined): BearerRejection | undefined {
    const { realm, unauthorized } = this.messages;
    if (header === undefined) {
      return {
        reason: 'missing_token',
        headers: { 'www-authenticate': realm },
        problem: unauthorized(this.messages.missingDetail),
      };
    }
    // A header in another form counts as a wrong token, not a missing one, so a mistyped
    // scheme is reported as invalid rather than as absent.
    const presented = BEARER.exec(header)?.[1] ?? header;
    if (!timingSafeEqual(sha256(presented), this.digest)) {
      return {
        reason: 'invalid_token',
        headers: { 'www-authenticate': `${realm}, error="invalid_token"` },
        problem: unauthorized(this.messages.invalidDetail),
      };
    }
    return undefined;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
