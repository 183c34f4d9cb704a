import { randomUUID } from 'node:crypto';

import {
  decodeJwt,
  errors,
  jwtVerify,
  SignJWT,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';

import { systemClock, type Clock } from '../../core/clock.js';
import type { Principal } from '../../core/context.js';
import type { RevokedTokenStore } from '../client-store.js';
import { joseFailure, type TokenCheckFailure } from '../jose-failures.js';
import { signingAlgorithms } from './config-schema.js';
import { RevocationCache } from './revocation-cache.js';
import type { SigningKeyRing } from './signing-keys.js';

/** Why an access token was rejected: a stable code in problem bodies and events. */
export type AccessTokenFailure =
  | 'malformed'
  | 'api_key_not_accepted'
  | 'untrusted_issuer'
  | 'algorithm_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'wrong_type'
  | 'wrong_audience'
  | 'missing_claim'
  | 'invalid_claim'
  | 'revoked';

/** A rejected access token, with a message that names the failed check and never the token. */
export class AccessTokenError extends Error {
  constructor(
    readonly reason: AccessTokenFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AccessTokenError';
  }
}

/** The claims of a verified token that callers use. */
export interface VerifiedAccessToken {
  clientId: string;
  scopes: string[];
  plan?: string;
  jti: string;
  /** Expiry, in epoch seconds. */
  exp: number;
  claims: JWTPayload;
}

export interface IssuedAccessToken {
  token: string;
  /** Lifetime in seconds, the `expires_in` of the token response. */
  expiresIn: number;
  jti: string;
}

export interface AccessTokensOptions {
  keys: SigningKeyRing;
  revoked: RevokedTokenStore;
  lifetimeMs: number;
  clockToleranceMs: number;
  clock?: Clock;
}

// RFC 9068 section 2.1: the media type of a JWT access token, in its short form.
const ACCESS_TOKEN_TYPE = 'at+jwt';
// Tokens issued here are well under 2 KiB. The bound keeps decoding of hostile input small.
const MAX_TOKEN_LENGTH = 8192;
const REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'jti', 'sub', 'client_id'];

/**
 * Issues and verifies the server's access tokens: JWTs in the RFC 9068 profile, signed by
 * the current key of the key ring. Verification accepts only this server's issuer, its
 * audience, the `at+jwt` type, the algorithms it signs with and its own keys, then checks
 * the `jti` against the revoked tokens.
 */
export class AccessTokens {
  private issuerUrl: string | undefined;
  private audience: string[] = [];
  private readonly keys: SigningKeyRing;
  private readonly revocations: RevocationCache;
  private readonly lifetimeSeconds: number;
  private readonly toleranceSeconds: number;
  private readonly clock: Clock;

  constructor(options: AccessTokensOptions) {
    this.keys = options.keys;
    this.revocations = new RevocationCache(options.revoked);
    this.lifetimeSeconds = Math.ceil(options.lifetimeMs / 1000);
    this.toleranceSeconds = Math.ceil(options.clockToleranceMs / 1000);
    this.clock = options.clock ?? systemClock;
  }

  /** Sets the `iss` and `aud` of tokens. The gateway calls it at start, once its URL is fixed. */
  configure(issuer: string, audience: readonly string[]): void {
    this.issuerUrl = issuer;
    this.audience = [...audience];
  }

  get issuer(): string {
    if (this.issuerUrl === undefined) throw new Error('the OAuth issuer is not configured yet');
    return this.issuerUrl;
  }

  /** Signs a token for a client; `scopes` are already checked against the client's. */
  async issue(client: { id: string; plan?: string }, scopes: readonly string[]) {
    const key = this.keys.signingKey();
    const now = Math.floor(this.clock.now() / 1000);
    const jti = randomUUID();
    const claims: JWTPayload = { client_id: client.id };
    if (scopes.length > 0) claims.scope = scopes.join(' ');
    if (client.plan !== undefined) claims.plan = client.plan;

    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.issuer)
      .setAudience(this.audience.length === 1 ? this.audience[0]! : this.audience)
      .setSubject(client.id)
      .setIssuedAt(now)
      .setExpirationTime(now + this.lifetimeSeconds)
      .setJti(jti)
      .sign(key.privateKey);
    return { token, expiresIn: this.lifetimeSeconds, jti } satisfies IssuedAccessToken;
  }

  /**
   * Returns whether the unverified `iss` names this server. It only routes a token to the
   * right verifier; `verify` checks `iss` again with the signature.
   */
  isOwn(token: string): boolean {
    if (token.length > MAX_TOKEN_LENGTH || this.issuerUrl === undefined) return false;
    try {
      return decodeJwt(token).iss === this.issuerUrl;
    } catch {
      return false;
    }
  }

  /**
   * Verifies a token and, unless `checkRevocation` is false, that its `jti` is not revoked.
   * Throws `AccessTokenError`.
   */
  async verify(token: string, checkRevocation = true): Promise<VerifiedAccessToken> {
    if (token.length > MAX_TOKEN_LENGTH)
      throw new AccessTokenError(
        'malformed',
        `token is longer than ${MAX_TOKEN_LENGTH} characters`,
      );
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw new AccessTokenError('malformed', 'token is not a signed JWT in compact serialization');
    }
    if (issuer !== this.issuerUrl) {
      throw new AccessTokenError(
        'untrusted_issuer',
        'token issuer (iss) is not the OAuth server of this gateway',
      );
    }

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.keyFor(header), {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: [...signingAlgorithms],
        typ: ACCESS_TOKEN_TYPE,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: this.toleranceSeconds,
        currentDate: new Date(this.clock.now()),
      }));
    } catch (error) {
      throw accessTokenError(error);
    }

    const verified = verifiedClaims(payload);
    if (checkRevocation && (await this.revocations.isRevoked(verified.jti)))
      throw new AccessTokenError('revoked', 'token has been revoked');
    return verified;
  }

  /** Records a revocation until the token expires; `exp` is in epoch seconds. */
  revoke(jti: string, exp: number): Promise<void> {
    return this.revocations.revoke(jti, exp * 1000);
  }

  /** Forgets the cached revocation state of a token that another instance revoked. */
  forgetRevocation(jti: string): void {
    this.revocations.forget(jti);
  }

  private async keyFor(header: JWTHeaderParameters) {
    const key =
      header.kid === undefined
        ? undefined
        : await this.keys.verificationKey(header.kid, header.alg);
    if (key === undefined)
      throw new AccessTokenError(
        'unknown_key',
        'no signing key of this server matches the token kid and alg',
      );
    return key;
  }
}

/** Returns the principal of a verified token: the client it was issued to. */
export function principalOf(token: VerifiedAccessToken): Principal {
  const principal: Principal = { type: 'client', id: token.clientId, scopes: token.scopes };
  if (token.plan !== undefined) principal.plan = token.plan;
  return principal;
}

function verifiedClaims(payload: JWTPayload): VerifiedAccessToken {
  const { client_id: clientId, jti, exp, scope, plan } = payload;
  if (typeof clientId !== 'string' || clientId === '' || payload.sub !== clientId)
    throw new AccessTokenError('invalid_claim', 'client_id must be a string equal to sub');
  if (typeof jti !== 'string' || jti === '')
    throw new AccessTokenError('invalid_claim', 'jti must be a non-empty string');
  if (scope !== undefined && typeof scope !== 'string')
    throw new AccessTokenError('invalid_claim', 'scope must be a space-separated string');
  const verified: VerifiedAccessToken = {
    clientId,
    jti,
    exp: exp!,
    scopes: scope === undefined ? [] : scope.split(' ').filter((item) => item !== ''),
    claims: payload,
  };
  if (typeof plan === 'string') verified.plan = plan;
  return verified;
}

// Claims whose failures this verifier words itself; jose-failures.ts maps the rest.
const CLAIM_FAILURES = new Map<string, TokenCheckFailure<AccessTokenFailure>>([
  ['typ', { reason: 'wrong_type', message: 'token type (typ) is not at+jwt' }],
  ['iss', { reason: 'untrusted_issuer', message: 'token issuer (iss) does not match' }],
]);

function accessTokenError(error: unknown): AccessTokenError {
  if (error instanceof AccessTokenError) return error;
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new AccessTokenError(
      'algorithm_not_allowed',
      'token algorithm is not one this server signs with',
    );
  const failure = joseFailure(error, CLAIM_FAILURES);
  if (failure !== undefined) return new AccessTokenError(failure.reason, failure.message);
  // Anything else is a bug rather than a bad token, so it surfaces as a failed guard.
  throw error;
}
