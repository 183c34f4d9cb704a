import type { RequestContext } from '../../core/context.js';
import type { EventDraft } from '../../events/schema.js';
import type { OAuthResponse } from './http.js';

/** The OAuth endpoints, as named in event details. */
export type OAuthEndpoint = 'token' | 'introspection' | 'revocation';

/** Builds an event of the OAuth server about one request. */
export function oauthEvent(
  ctx: RequestContext,
  fields: Pick<EventDraft, 'type' | 'category' | 'severity' | 'outcome'> & {
    clientId?: string;
    details: Record<string, unknown>;
    target?: EventDraft['target'];
  },
): EventDraft {
  const userAgent = ctx.headers['user-agent'];
  return {
    type: fields.type,
    category: fields.category,
    severity: fields.severity,
    outcome: fields.outcome,
    component: 'oauth',
    correlationId: ctx.correlationId,
    actor: {
      type: fields.clientId === undefined ? 'anonymous' : 'client',
      id: fields.clientId,
      ip: ctx.ip,
      userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 256) : undefined,
    },
    target: { method: ctx.method, path: ctx.path.slice(0, 512), ...fields.target },
    details: { method: 'oauth', ...fields.details },
  };
}

/**
 * Builds the `auth.failure` event of an OAuth endpoint. `clientId` is set only for a stored client, and
 * the details never contain a secret or a token.
 */
export function oauthFailure(
  ctx: RequestContext,
  endpoint: OAuthEndpoint,
  reason: string,
  clientId?: string,
): EventDraft {
  // Guessing secrets or ids ranks higher than a malformed request.
  const severity = reason === 'invalid_secret' || reason === 'unknown_client' ? 'medium' : 'low';
  return oauthEvent(ctx, {
    type: 'auth.failure',
    category: 'authentication',
    severity,
    outcome: 'failure',
    clientId,
    details: { endpoint, reason },
  });
}

/**
 * A function that publishes the `auth.failure` event of a rejected request and returns its
 * response.
 */
export type RejectRequest = (
  ctx: RequestContext,
  response: OAuthResponse,
  reason: string,
  clientId?: string,
) => OAuthResponse;

/** Returns the `RejectRequest` of one endpoint. */
export function failurePublisher(
  publish: (event: EventDraft) => void,
  endpoint: OAuthEndpoint,
): RejectRequest {
  return (ctx, response, reason, clientId) => {
    publish(oauthFailure(ctx, endpoint, reason, clientId));
    return response;
  };
}
