import { errors } from 'jose';
import { describe, expect, it } from 'vitest';

import { joseFailure, type TokenCheckFailure } from '../../src/auth/jose-failures.js';

const PAYLOAD = { sub: 'user-1' };
const OWN_CLAIMS = new Map<string, TokenCheckFailure<'not_yet_valid'>>([
  ['nbf', { reason: 'not_yet_valid', message: 'token is not valid yet (nbf)' }],
]);

function claimFailed(claim: string, reason: string): Error {
  return new errors.JWTClaimValidationFailed('claim check failed', PAYLOAD, claim, reason);
}

describe('jose failure mapping', () => {
  it.each([
    ['expired', new errors.JWTExpired('expired', PAYLOAD, 'exp', 'check_failed'), 'expired'],
    ['bad signature', new errors.JWSSignatureVerificationFailed(), 'bad_signature'],
    ['invalid JWT', new errors.JWTInvalid('not a JWT'), 'malformed'],
    ['invalid JWS', new errors.JWSInvalid('not a JWS'), 'malformed'],
    ['unsupported key', new errors.JOSENotSupported('no'), 'algorithm_not_allowed'],
    ['wrong aud', claimFailed('aud', 'check_failed'), 'wrong_audience'],
    ['other claim', claimFailed('jti', 'invalid'), 'invalid_claim'],
  ])('%s has its shared reason', (_name, error, reason) => {
    expect(joseFailure(error, OWN_CLAIMS)?.reason).toBe(reason);
  });

  it('messages name the claim only', () => {
    expect(joseFailure(claimFailed('jti', 'invalid'), OWN_CLAIMS)?.message).toBe(
      'claim jti is invalid',
    );
    expect(joseFailure(claimFailed('iat', 'missing'), OWN_CLAIMS)?.message).toBe(
      'required claim iat is missing',
    );
  });

  it("verifier's own claim wins", () => {
    expect(joseFailure(claimFailed('nbf', 'check_failed'), OWN_CLAIMS)).toEqual({
      reason: 'not_yet_valid',
      message: 'token is not valid yet (nbf)',
    });
  });

  it('missing claim beats own claim', () => {
    expect(joseFailure(claimFailed('nbf', 'missing'), OWN_CLAIMS)?.reason).toBe('missing_claim');
  });

  it('inherited key is no claim', () => {
    expect(joseFailure(claimFailed('toString', 'invalid'), OWN_CLAIMS)?.reason).toBe(
      'invalid_claim',
    );
  });

  it.each([
    ['disallowed algorithm', new errors.JOSEAlgNotAllowed('no')],
    ['no matching key', new errors.JWKSNoMatchingKey()],
    ['failed key fetch', new errors.JWKSTimeout()],
    ['plain error', new Error('boom')],
  ])('%s is left to the verifier', (_name, error) => {
    expect(joseFailure(error, OWN_CLAIMS)).toBeUndefined();
  });
});
