import type { RequestContext } from '../../core/context.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../../core/guard.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { looksLikeApiKey } from '../api-key-format.js';
import { BEARER, SCHEME } from '../jwt-guard.js';
import { authPolicyOf, type AuthPolicy } from '../policy.js';
import {
  authFailureEvent,
  credentialsRequired,
  invalidToken,
  malformedHeader,
  storeUnavailable,
} from '../rejections.js';
import {
  AccessTokenError,
  principalOf,
  type AccessTokenFailure,
  type AccessTokens,
} from './access-tokens.js';

// Signs of a forged or replayed token rank higher than a stale or misdirected one.
const HIGH_SEVERITY: ReadonlySet<AccessTokenFailure> = new Set([
  'algorithm_not_allowed',
  'bad_signature',
  'revoked',
]);

/**
 * Authenticates `Authorization: Bearer <access token>` issued by this gateway's OAuth
 * server, on routes whose policy lists `oauth`. A valid token makes the client it was
 * issued to the principal, with the token's scopes and the client's plan, so `client` rate
 * limits and plan tiers apply.
 *
 * It runs before the API key and JWT guards and leaves them what is theirs: a bearer value
 * that looks like an API key where the route accepts keys, and a token of another issuer
 * where the route accepts `jwt`. As with the other methods, a token that is sent must be
 * valid even where anonymous access is allowed.
 */
export class OAuthGuard implements Guard {
  readonly name = 'auth';

  constructor(
    private readonly tokens: AccessTokens,
    private readonly fallback: AuthPolicy,
    private readonly logger: Logger = silentLogger,
  ) {}

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    const policy = authPolicyOf(ctx, this.fallback);
    if (policy.oauth !== true || ctx.principal !== undefined) return CONTINUE;
    const otherMethods = policy.apiKey || policy.jwt;

    const header = ctx.headers.authorization;
    const scheme = header === undefined ? undefined : SCHEME.exec(header)?.[1];
    if (scheme === undefined || scheme.toLowerCase() !== 'bearer')
      return otherMethods || policy.anonymous ? CONTINUE : credentialsRequired();
    const token = BEARER.exec(header!)?.[1];
    if (token === undefined) return otherMethods ? CONTINUE : malformedHeader();
    if (looksLikeApiKey(token)) {
      if (policy.apiKey) return CONTINUE;
      return rejectToken(
        new AccessTokenError(
          'api_key_not_accepted',
          'an API key was sent, but this route accepts OAuth access tokens',
        ),
      );
    }
    if (policy.jwt && !this.tokens.isOwn(token)) return CONTINUE;

    return this.tokens.verify(token).then(
      (verified) => {
        ctx.principal = principalOf(verified);
        return CONTINUE;
      },
      // Fails closed when the revocation list cannot be read. Other errors are bugs and
      // reach the pipeline, which responds with 500.
      (error: unknown) => {
        if (error instanceof AccessTokenError) return rejectToken(error);
        if (!(error instanceof StoreUnavailableError)) throw error;
        this.logger.error(
          { err: error, requestId: ctx.id, correlationId: ctx.correlationId },
          'access token revocation lookup failed: credential store unavailable',
        );
        return storeUnavailable(
          'access token',
          authFailureEvent('store_unavailable', 'medium', 'oauth', 'system'),
        );
      },
    );
  }
}

// Messages are fixed texts from access-tokens.ts and jose-failures.ts without token text or
// quotes, so they are safe inside the quoted error_description.
function rejectToken(error: AccessTokenError): Reject {
  const severity = HIGH_SEVERITY.has(error.reason) ? 'medium' : 'low';
  return invalidToken(
    error.reason,
    error.message,
    authFailureEvent(error.reason, severity, 'oauth'),
  );
}
