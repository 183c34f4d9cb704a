import type { Reject } from '../core/guard.js';
import { problem, type Problem } from '../core/problem.js';
import type { EventCategory, EventSeverity } from '../events/schema.js';

/**
 * Rejections shared by the authentication guards (API key, JWT, OAuth access token), so that
 * a client sees the same status, challenge and problem body whichever method failed.
 */

/** The method named in `auth.failure` details. JWT failures name none. */
export type AuthMethod = 'apiKey' | 'oauth';

/** Builds the event of a rejected credential. */
export function authFailureEvent(
  reason: string,
  severity: EventSeverity,
  method?: AuthMethod,
  category: EventCategory = 'authentication',
): Reject['event'] {
  return {
    type: 'auth.failure',
    category,
    severity,
    details: method === undefined ? { reason } : { reason, method },
  };
}

/**
 * Rejects a request that carries no credential with 401 and, per RFC 6750 section 3.1, a
 * `Bearer` challenge without an error code.
 */
export function missingCredentials(detail: string, event: Reject['event']): Reject {
  return {
    action: 'reject',
    status: 401,
    headers: { 'www-authenticate': 'Bearer' },
    problem: problem('unauthenticated', 401, 'Unauthorized', 'BWK_ERR_AUTH_REQUIRED', { detail }),
    event,
  };
}

/** Rejects a request that needs a bearer token and carries none, as `missingCredentials` does. */
export function credentialsRequired(): Reject {
  return missingCredentials(
    'This route requires a bearer token in the Authorization header.',
    authFailureEvent('missing_credentials', 'low'),
  );
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
    event: authFailureEvent('malformed_header', 'low'),
  };
}

/**
 * Rejects a bearer token (a JWT or an OAuth access token) that failed verification, with 401
 * and RFC 6750's `invalid_token` error. `message` is placed inside the quoted
 * `error_description`, so it must be fixed text without quotes and without token text.
 */
export function invalidToken(reason: string, message: string, event: Reject['event']): Reject {
  const body = problem('invalid-token', 401, 'Unauthorized', 'BWK_ERR_AUTH_INVALID_TOKEN', {
    detail: `The bearer token was rejected: ${message}.`,
    reason,
  });
  return invalidCredential(body, message, event);
}

/** Rejects an API key that failed its check, as `invalidToken` does for tokens. */
export function invalidApiKey(reason: string, message: string, event: Reject['event']): Reject {
  const body = problem('invalid-api-key', 401, 'Unauthorized', 'BWK_ERR_AUTH_INVALID_API_KEY', {
    detail: `The API key was rejected: ${message}.`,
    reason,
  });
  return invalidCredential(body, message, event);
}

/**
 * Rejects with 503 and `Retry-After` because the credential store could not be read. The
 * guards fail closed, because without the store no credential can be verified.
 */
export function storeUnavailable(
  credential: 'API key' | 'access token',
  event: Reject['event'],
): Reject {
  return {
    action: 'reject',
    status: 503,
    headers: { 'retry-after': '5' },
    problem: problem(
      'auth-store-unavailable',
      503,
      'Service Unavailable',
      'BWK_ERR_AUTH_STORE_UNAVAILABLE',
      {
        detail: `The ${credential} could not be checked because the credential store is unavailable. Retry later.`,
      },
    ),
    event,
  };
}

function invalidCredential(body: Problem, message: string, event: Reject['event']): Reject {
  return {
    action: 'reject',
    status: 401,
    headers: { 'www-authenticate': `Bearer error="invalid_token", error_description="${message}"` },
    problem: body,
    event,
  };
}
