import { createPublicKey, hash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';

import { systemClock, type Clock } from '../core/clock.js';
import type { Principal } from '../core/context.js';
import { ConfigError } from '../core/errors.js';
import type { JwtIssuerConfig } from './config-schema.js';
import { joseFailure, type TokenCheckFailure } from './jose-failures.js';

/** Why a token was rejected: a stable code in `auth.failure` events and problem bodies. */
export type TokenFailure =
  | 'malformed'
  | 'untrusted_issuer'
  | 'algorithm_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'missing_claim'
  | 'invalid_claim'
  | 'keys_unavailable';

/** A rejected token, with a message that names the failed check and never the token. */
export class TokenError extends Error {
  constructor(
    readonly reason: TokenFailure,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

// Real access tokens are well under 4 KiB. The bound keeps base64 and JSON decoding of
// hostile input small.
const MAX_TOKEN_LENGTH = 8192;
const MAX_KEY_FILE_BYTES = 256 * 1024;

interface Issuer {
  config: JwtIssuerConfig;
  keys: JWTVerifyGetKey;
}

/** A verified token's principal, reusable while the token's time claims hold. */
interface Verified {
  principal: Principal;
  /** Epoch ms, clock tolerance included. */
  notBefore: number;
  notAfter: number;
}

/**
 * Verifies JWT bearer tokens against the configured issuers and maps claims to a principal.
 *
 * Verified tokens are remembered by their SHA-256 digest, up to `cacheSize`, so a client that
 * sends the same token again costs a hash instead of a signature check. A remembered token
 * is reused only inside its `nbf`..`exp` window, and rejected tokens are never remembered.
 */
export class JwtVerifier {
  private readonly issuers = new Map<string, Issuer>();
  private readonly verified = new Map<string, Verified>();

  constructor(
    configs: readonly JwtIssuerConfig[],
    private readonly cacheSize = 0,
    private readonly clock: Clock = systemClock,
  ) {
    configs.forEach((config, index) => {
      this.issuers.set(config.issuer, { config, keys: keySource(config, index) });
    });
  }

  /** Returns the principal of a remembered, still valid token without a promise. */
  cached(token: string): Principal | undefined {
    if (this.cacheSize === 0) return undefined;
    const hit = this.verified.get(digestOf(token));
    const now = this.clock.now();
    return hit !== undefined && now >= hit.notBefore && now < hit.notAfter
      ? { ...hit.principal }
      : undefined;
  }

  verify(token: string): Promise<Principal> {
    if (this.cacheSize === 0) return this.verifySignature(token);
    const hit = this.cached(token);
    if (hit !== undefined) return Promise.resolve(hit);
    const digest = digestOf(token);
    this.verified.delete(digest);
    return this.verifySignature(token).then((principal) => {
      this.remember(digest, token, principal);
      return { ...principal };
    });
  }

  private remember(digest: string, token: string, principal: Principal): void {
    const claims = decodeJwt(token);
    const issuer = this.issuers.get(claims.iss ?? '');
    if (issuer === undefined || claims.exp === undefined) return;
    if (this.verified.size >= this.cacheSize) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    const tolerance = issuer.config.clockTolerance;
    this.verified.set(digest, {
      principal,
      notBefore: claims.nbf === undefined ? 0 : claims.nbf * 1000 - tolerance,
      notAfter: claims.exp * 1000 + tolerance,
    });
  }

  protected async verifySignature(token: string): Promise<Principal> {
    const issuer = this.issuerOf(token);
    const { config } = issuer;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms as string[],
        clockTolerance: Math.ceil(config.clockTolerance / 1000),
        requiredClaims: config.requiredClaims as string[],
      }));
    } catch (error) {
      throw tokenError(error);
    }
    return principalFrom(payload, config);
  }

  // The issuer is read from the unverified payload only to pick its keys; jwtVerify then
  // checks `iss` again together with the signature.
  private issuerOf(token: string): Issuer {
    if (token.length > MAX_TOKEN_LENGTH)
      throw new TokenError('malformed', `token is longer than ${MAX_TOKEN_LENGTH} characters`);
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new TokenError('malformed', 'token is not a signed JWT in compact serialization');
    }
    const issuer = typeof iss === 'string' ? this.issuers.get(iss) : undefined;
    if (issuer === undefined)
      throw new TokenError('untrusted_issuer', 'token issuer (iss) is missing or not trusted');
    return issuer;
  }
}

function digestOf(token: string): string {
  return hash('sha256', token, 'base64');
}

/**
 * Maps verified claims to a principal. A token whose `sub` is absent or equals `client_id`
 * was issued to a client for itself (the client-credentials grant, RFC 9068 section 2.2), so
 * the principal is that client. Otherwise it is the user named by `sub`.
 * NOTE: the id is not qualified by issuer, so two issuers that reuse a `sub` share rate-limit
 * counters keyed on `user`.
 */
export function principalFrom(payload: JWTPayload, config: JwtIssuerConfig): Principal {
  const clientId = typeof payload.client_id === 'string' ? payload.client_id : undefined;
  const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
  const id = sub ?? clientId;
  if (id === undefined)
    throw new TokenError('missing_claim', 'token has neither sub nor client_id');

  const principal: Principal = {
    type: sub === undefined || sub === clientId ? 'client' : 'user',
    id,
    scopes: scopesFrom(payload),
  };
  if (config.planClaim !== undefined) {
    const plan = payload[config.planClaim];
    if (typeof plan === 'string') principal.plan = plan;
  }
  return principal;
}

/** Reads scopes from `scope` (space-separated, RFC 8693) or `scp` (array or string). */
function scopesFrom(payload: JWTPayload): string[] {
  const scope = payload.scope ?? payload.scp;
  if (typeof scope === 'string') return scope.split(' ').filter((item) => item !== '');
  if (Array.isArray(scope)) return scope.filter((item): item is string => typeof item === 'string');
  if (scope === undefined) return [];
  throw new TokenError('invalid_claim', 'scope claim must be a string or an array of strings');
}

// Claims whose failures this verifier words itself; jose-failures.ts maps the rest.
const CLAIM_FAILURES = new Map<string, TokenCheckFailure<TokenFailure>>([
  ['nbf', { reason: 'not_yet_valid', message: 'token is not valid yet (nbf)' }],
  ['iss', { reason: 'wrong_issuer', message: 'token issuer (iss) does not match' }],
]);

function tokenError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new TokenError('algorithm_not_allowed', 'token algorithm is not allowed for its issuer');
  if (error instanceof errors.JWKSNoMatchingKey)
    return new TokenError('unknown_key', 'no key of the issuer matches the token kid and alg');
  const failure = joseFailure(error, CLAIM_FAILURES);
  if (failure !== undefined) return new TokenError(failure.reason, failure.message);
  return new TokenError('keys_unavailable', "the issuer's keys could not be loaded");
}

function keySource(config: JwtIssuerConfig, index: number): JWTVerifyGetKey {
  if (config.jwksUri !== undefined) return remoteKeys(new URL(config.jwksUri), config);
  if (config.jwksFile !== undefined) return createLocalJWKSet(readJwksFile(config.jwksFile, index));
  return pemKeys((config.publicKeys ?? []).map((key, keyIndex) => pemToJwk(key, index, keyIndex)));
}

/**
 * Selects among PEM keys: a token whose `kid` names a configured key uses that key. Keys
 * configured without a `kid` verify every other token, whatever `kid` it carries, because a
 * PEM file has no key id of its own. Without such keys an unknown `kid` is rejected.
 */
function pemKeys(keys: JWK[]): JWTVerifyGetKey {
  const named = keys.filter((key) => key.kid !== undefined);
  const unnamed = keys.filter((key) => key.kid === undefined);
  const kids = new Set(named.map((key) => key.kid));
  const namedSet = createLocalJWKSet({ keys: named });
  const unnamedSet = unnamed.length > 0 ? createLocalJWKSet({ keys: unnamed }) : undefined;
  return (header, token) => {
    if (unnamedSet === undefined || kids.has(header.kid)) return namedSet(header, token);
    return unnamedSet({ ...header, kid: undefined }, token);
  };
}

/**
 * Fetches a remote JWKS with jose's cache: an unknown `kid` triggers a fetch at most once per
 * cooldown. When the endpoint fails, keys fetched earlier keep verifying tokens even after
 * `cacheMaxAge`, and an unknown `kid` is rejected. A failed fetch also starts a cooldown, so
 * tokens with made-up kids cannot make the gateway fetch on every request during an outage.
 */
function remoteKeys(url: URL, config: JwtIssuerConfig): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    cacheMaxAge: config.jwks.cacheMaxAge,
    cooldownDuration: config.jwks.cooldown,
    timeoutDuration: config.jwks.timeout,
  });
  let lastFailure = -Infinity;
  // Built on the first failure after a successful fetch. `remote.jwks()` copies the whole set
  // on every call, so it stays off the path of requests while the endpoint works.
  let stale: JWTVerifyGetKey | undefined;
  const staleKeys = (): JWTVerifyGetKey | undefined => {
    if (stale === undefined) {
      const jwks = remote.jwks();
      if (jwks !== undefined) stale = createLocalJWKSet(jwks);
    }
    return stale;
  };

  return async (header, token) => {
    if (Date.now() - lastFailure < config.jwks.cooldown) {
      const keys = staleKeys();
      if (keys === undefined) throw new TokenError('keys_unavailable', 'JWKS fetch failed');
      return keys(header, token);
    }
    let key: Awaited<ReturnType<JWTVerifyGetKey>>;
    try {
      key = await remote(header, token);
    } catch (error) {
      if (!isFetchFailure(error)) throw error;
      lastFailure = Date.now();
      const keys = staleKeys();
      if (keys === undefined) throw error;
      return keys(header, token);
    }
    stale = undefined;
    return key;
  };
}

function isFetchFailure(error: unknown): boolean {
  return !(
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JOSEAlgNotAllowed ||
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JWSInvalid
  );
}

function readJwksFile(path: string, index: number): JSONWebKeySet {
  const where = `auth.jwt.issuers.${index}.jwksFile`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw keyError(where, path, `cannot read the JWKS file: ${(error as Error).message}`);
  }
  if (text.length > MAX_KEY_FILE_BYTES)
    throw keyError(where, path, `JWKS file is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw keyError(where, path, 'JWKS file is not valid JSON');
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((key) => key === null || typeof key !== 'object'))
    throw keyError(where, path, 'JWKS file must be an object with a "keys" array of JWKs');
  if (keys.some((key: JWK) => key.kty === 'oct' || key.d !== undefined))
    throw keyError(where, path, 'JWKS file must contain public keys only (no oct or private keys)');
  return jwks as JSONWebKeySet;
}

function pemToJwk(
  key: NonNullable<JwtIssuerConfig['publicKeys']>[number],
  index: number,
  keyIndex: number,
): JWK {
  const where = `auth.jwt.issuers.${index}.publicKeys.${keyIndex}`;
  let pem = key.pem;
  if (key.file !== undefined) {
    try {
      pem = readFileSync(key.file, 'utf8');
    } catch (error) {
      throw keyError(where, key.file, `cannot read the PEM file: ${(error as Error).message}`);
    }
  }
  let jwk: JWK;
  try {
    jwk = createPublicKey(pem ?? '').export({ format: 'jwk' }) as JWK;
  } catch {
    throw keyError(where, key.file ?? 'pem', 'not a PEM public key (BEGIN PUBLIC KEY)');
  }
  return { ...jwk, alg: key.alg, use: 'sig', ...(key.kid === undefined ? {} : { kid: key.kid }) };
}

function keyError(path: string, value: string, message: string): ConfigError {
  return new ConfigError('configuration', [{ path, value, message, code: 'BWK_ERR_CONFIG_AUTH' }]);
}
