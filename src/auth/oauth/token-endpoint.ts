import type { IncomingMessage } from 'node:http';

import type { RequestContext } from '../../core/context.js';
import type { EventDraft } from '../../events/schema.js';
import type { ClientRecord } from '../client-store.js';
import type { AccessTokens } from './access-tokens.js';
import { presentedClient, type ClientAuthenticator } from './client-auth.js';
import { failurePublisher, oauthEvent, type RejectRequest } from './events.js';
import { isOAuthResponse, json, oauthError, readForm, type OAuthResponse } from './http.js';

const PARAMS = new Set(['grant_type', 'scope', 'client_id', 'client_secret']);
const GRANT_TYPE = 'client_credentials';
// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export interface TokenEndpointOptions {
  clients: ClientAuthenticator;
  tokens: AccessTokens;
  publish: (event: EventDraft) => void;
}

/**
 * `POST /oauth/token` for the client-credentials grant (RFC 6749 section 4.4). Checks run
 * cheapest first: the form and grant type, then the client's secret, then the scopes.
 * Every rejection publishes `auth.failure` with a reason, and every token `auth.success`.
 */
export class TokenEndpoint {
  private readonly reject: RejectRequest;

  constructor(private readonly options: TokenEndpointOptions) {
    this.reject = failurePublisher(options.publish, 'token');
  }

  async handle(req: IncomingMessage, ctx: RequestContext): Promise<OAuthResponse> {
    const form = await readForm(req, PARAMS);
    if (isOAuthResponse(form)) return this.reject(ctx, form, 'invalid_request');

    const grantType = form.get('grant_type');
    if (grantType === undefined)
      return this.reject(
        ctx,
        oauthError('invalid_request', 'grant_type is missing'),
        'invalid_request',
      );
    const presented = presentedClient(ctx.headers.authorization, form);
    if (!presented.ok) return this.reject(ctx, presented.response, presented.reason);
    if (grantType !== GRANT_TYPE) {
      const description = `grant_type must be ${GRANT_TYPE}, the only grant this server supports`;
      return this.reject(
        ctx,
        oauthError('unsupported_grant_type', description),
        'unsupported_grant_type',
      );
    }

    const auth = await this.options.clients.authenticate(presented.client);
    if (!auth.ok) return this.reject(ctx, auth.response, auth.reason, auth.clientId);

    const scopes = grantedScopes(form.get('scope'), auth.client);
    if (!Array.isArray(scopes)) return this.reject(ctx, scopes, 'invalid_scope', auth.client.id);

    const issued = await this.options.tokens.issue(auth.client, scopes);
    this.options.publish(
      oauthEvent(ctx, {
        type: 'auth.success',
        category: 'authentication',
        severity: 'info',
        outcome: 'success',
        clientId: auth.client.id,
        target: { resourceType: 'access_token', resourceId: issued.jti },
        details: {
          endpoint: 'token',
          grantType: GRANT_TYPE,
          clientAuthMethod: auth.method,
          scope: scopes.join(' '),
          jti: issued.jti,
        },
      }),
    );
    const body: Record<string, unknown> = {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
    };
    if (scopes.length > 0) body.scope = scopes.join(' ');
    return json(body);
  }
}

/**
 * Returns the scopes of the new token: the requested ones, or all of the client's when the
 * request names none. A scope the client does not hold is an `invalid_scope`; the response
 * does not repeat the requested names, because they are client input.
 */
function grantedScopes(
  requested: string | undefined,
  client: ClientRecord,
): string[] | OAuthResponse {
  if (requested === undefined) return [...client.scopes];
  const names = [...new Set(requested.split(' ').filter((name) => name !== ''))];
  if (names.length === 0 || !names.every((name) => SCOPE_TOKEN.test(name)))
    return oauthError(
      'invalid_scope',
      'scope must be scope tokens separated by spaces (RFC 6749 section 3.3)',
    );
  if (!names.every((name) => client.scopes.includes(name)))
    return oauthError(
      'invalid_scope',
      'the requested scope exceeds the scopes granted to this client',
    );
  return names;
}
