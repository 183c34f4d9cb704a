import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import type { JwtIssuerConfig } from './config-schema.js';
import { JwtVerifier, TokenError, type TokenFailure } from './jwt.js';
import { authPolicyOf, type AuthPolicy } from './policy.js';

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
        if (error instanceof TokenError) return invalidToken(error);
        throw error;
      },
    );
  }
}

/** Rejects a request without a bearer token with 401 and, per RFC 6750 section 3.1, no error code. */
export function credentialsRequired(): Reject {
  return {
    action: 'reject',
    status: 401,
    headers: { 'www-authenticate': 'Bearer' },
    problem: problem('unauthenticated', 401, 'Unauthorized', 'BWK_ERR_AUTH_REQUIRED', {
      detail: 'This route requires a bearer token in the Authorization header.',
    }),
    event: failureEvent('missing_credentials', 'low'),
  };
}

/** Rejects an `Authorization: Bearer` header that carries no single token, with 400. */
export function malformedHeader(): Reject {
  const description = 'Authorization header is not of the form "Bearer <token>"';
  return {
    action: 'reject',
    status: 400,
    headers: {
      'www-authenticate': `Bearer error="invalid_request", error_description="${description}"`,
    },
    problem: problem('invalid-request', 400, 'Bad Request', 'BWK_ERR_AUTH_MALFORMED', {
      detail: `${description}.`,
    }),
    event: failureEvent('malformed_header', 'low'),
  };
}

// Messages come from a fixed set in jwt.ts and contain no token text or quotes, so they are
// safe inside the quoted error_description.
function invalidToken(error: TokenError): Reject {
  if (error.reason === 'keys_unavailable') return keysUnavailable();
  return {
    action: 'reject',
    status: 401,
    headers: {
      'www-authenticate': `Bearer error="invalid_token", error_description="${error.message}"`,
    },
    problem: problem('invalid-token', 401, 'Unauthorized', 'BWK_ERR_AUTH_INVALID_TOKEN', {
      detail: `The bearer token was rejected: ${error.message}.`,
      reason: error.reason,
    }),
    event: failureEvent(error.reason, HIGH_SEVERITY.has(error.reason) ? 'medium' : 'low'),
  };
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

function failureEvent(reason: string, severity: 'low' | 'medium'): Reject['event'] {
  return { type: 'auth.failure', category: 'authentication', severity, details: { reason } };
}
