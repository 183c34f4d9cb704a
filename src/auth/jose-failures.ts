import { errors } from 'jose';

/** The failure reasons that every token verifier gives for the same jose error. */
export type JoseFailureReason =
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'expired'
  | 'wrong_audience'
  | 'missing_claim'
  | 'invalid_claim';

/** The reason for a rejected token, and a message that names the failed check, never the token. */
export interface TokenCheckFailure<Reason extends string> {
  reason: Reason;
  message: string;
}

/**
 * Maps the jose errors whose meaning does not depend on the verifier. `claims` contains the
 * failures of claims that a verifier words itself, such as `iss`. They apply only to a claim
 * that is present but wrong, because a missing claim is always `missing_claim`.
 *
 * Returns undefined for the other errors (a disallowed algorithm, no matching key, a failed
 * key fetch), which each verifier maps in its own terms.
 */
export function joseFailure<Reason extends string>(
  error: unknown,
  claims: ReadonlyMap<string, TokenCheckFailure<Reason>>,
): TokenCheckFailure<Reason | JoseFailureReason> | undefined {
  if (error instanceof errors.JWTExpired)
    return { reason: 'expired', message: 'token has expired' };
  if (error instanceof errors.JWTClaimValidationFailed) return claimFailure(error, claims);
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return { reason: 'bad_signature', message: 'token signature is invalid' };
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid)
    return { reason: 'malformed', message: 'token is not a valid signed JWT' };
  if (error instanceof errors.JOSENotSupported)
    return {
      reason: 'algorithm_not_allowed',
      message: 'token uses an unsupported algorithm or key',
    };
  return undefined;
}

function claimFailure<Reason extends string>(
  error: InstanceType<typeof errors.JWTClaimValidationFailed>,
  claims: ReadonlyMap<string, TokenCheckFailure<Reason>>,
): TokenCheckFailure<Reason | JoseFailureReason> {
  if (error.reason === 'missing')
    return { reason: 'missing_claim', message: `required claim ${error.claim} is missing` };
  if (error.claim === 'aud')
    return { reason: 'wrong_audience', message: 'token audience (aud) does not match' };
  return (
    claims.get(error.claim) ?? {
      reason: 'invalid_claim',
      message: `claim ${error.claim} is invalid`,
    }
  );
}
