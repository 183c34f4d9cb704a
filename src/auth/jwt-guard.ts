import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import type { JwtIssuerConfig } from './config-schema.js';
import { JwtVerifier, TokenError, type TokenFailure } from './jwt.js';
import { authPolicyOf, type AuthPolicy } from './policy.js';
import {
  authFailureEvent,
  credentialsRequired,
  invalidToken,
  malformedHeader,
} from './rejections.js';

// RFC 6750 section 2.1: `Bearer` (case-insensitive), one space, then a token68 value.
export const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
export const SCHEME = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)/;

// Signs of a forged token rank higher than a stale or misdirected one.
const HIGH_SEVERITY: ReadonlySet<TokenFailure> = new Set([
  'algorithm_not_allowed',
  'bad_signature',
]);

/**
 * Authenticates `Authorization: Bearer <JWT>` on routes whose policy lists `jwt`. A valid token
 * sets `ctx.principal`. An invalid token is rejected even where anonymous access is allowed,
 * because a client that sends a credential expects it to count. A principal set by an earlier
 * guard is kept.
 *
 * Failures publish `auth.failure` here; the pipeline publishes `auth.success` once the
 * request has passed every guard.
 */
export class JwtGuard implements Guard {
  readonly name = 'auth';
  private readonly verifier: JwtVerifier;
  private readonly fallback: AuthPolicy;

  /** `cacheSize` verified tokens are remembered; 0 verifies every request's signature. */
  constructor(issuers: readonly JwtIssuerConfig[], fallback: AuthPolicy, cacheSize = 0) {
    this.verifier = new JwtVerifier(issuers, cacheSize);
    this.fallback = fallback;
  }

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    const policy = authPolicyOf(ctx, this.fallback);
    if (!policy.jwt || ctx.principal !== undefined) return CONTINUE;

    const header = ctx.headers.authorization;
    const scheme = header === undefined ? undefined : SCHEME.exec(header)?.[1];
    if (scheme === undefined || scheme.toLowerCase() !== 'bearer')
      return policy.anonymous ? CONTINUE : credentialsRequired();
    const token = BEARER.exec(header!)?.[1];
    if (token === undefined) return malformedHeader();

    const remembered = this.verifier.cached(token);
    if (remembered !== undefined) {
      ctx.principal = remembered;
      return CONTINUE;
    }
    return this.verifier.verify(token).then(
      (principal) => {
        ctx.principal = principal;
        return CONTINUE;
      },
      (error: unknown) => {
        if (error instanceof TokenError) return rejectToken(error);
        throw error;
      },
    );
  }
}

// Messages are fixed texts from jwt.ts and jose-failures.ts without token text or quotes, so
// they are safe inside the quoted error_description.
function rejectToken(error: TokenError): Reject {
  if (error.reason === 'keys_unavailable') return keysUnavailable();
  const severity = HIGH_SEVERITY.has(error.reason) ? 'medium' : 'low';
  return invalidToken(error.reason, error.message, authFailureEvent(error.reason, severity));
}

/** Rejects with 503 because the issuer's JWKS endpoint failed and no keys are cached. */
function keysUnavailable(): Reject {
  return {
    action: 'reject',
    status: 503,
    headers: { 'retry-after': '5' },
    problem: problem(
      'auth-unavailable',
      503,
      'Service Unavailable',
      'BWK_ERR_AUTH_KEYS_UNAVAILABLE',
      { detail: "The token issuer's keys could not be loaded; retry later.", retryAfter: 5 },
    ),
    event: {
      type: 'auth.failure',
      category: 'system',
      severity: 'high',
      details: { reason: 'keys_unavailable' },
    },
  };
}
