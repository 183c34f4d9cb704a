import type { IncomingMessage } from 'node:http';

import type { RequestContext } from '../../core/context.js';
import type { EventDraft } from '../../events/schema.js';
import { AccessTokenError, type AccessTokens } from './access-tokens.js';
import { authenticateRequest, type ClientAuthenticator } from './client-auth.js';
import { oauthFailure } from './events.js';
import { isOAuthResponse, json, oauthError, readForm, type OAuthResponse } from './http.js';

const PARAMS = new Set(['token', 'token_type_hint', 'client_id', 'client_secret']);

export interface IntrospectionOptions {
  clients: ClientAuthenticator;
  tokens: AccessTokens;
  publish: (event: EventDraft) => void;
}

/**
 * Token introspection (RFC 7662). The caller authenticates as a client and learns about its
 * own tokens only. A token that is invalid, expired, revoked, unknown or issued to another
 * client gets `{"active": false}` and nothing more, as section 2.2 requires, so the endpoint
 * cannot be used to probe other clients' tokens.
 */
export class IntrospectionEndpoint {
  constructor(private readonly options: IntrospectionOptions) {}

  async handle(req: IncomingMessage, ctx: RequestContext): Promise<OAuthResponse> {
    const form = await readForm(req, PARAMS);
    if (isOAuthResponse(form)) return this.reject(ctx, form, 'invalid_request');
    const auth = await authenticateRequest(this.options.clients, ctx.headers.authorization, form);
    if (!auth.ok) return this.reject(ctx, auth.response, auth.reason, auth.clientId);
    const token = form.get('token');
    if (token === undefined)
      return this.reject(ctx, oauthError('invalid_request', 'token is missing'), 'invalid_request');

    let verified;
    try {
      verified = await this.options.tokens.verify(token);
    } catch (error) {
      if (error instanceof AccessTokenError) return json({ active: false });
      throw error;
    }
    if (verified.clientId !== auth.client.id) return json({ active: false });

    const { claims } = verified;
    const body: Record<string, unknown> = {
      active: true,
      client_id: verified.clientId,
      token_type: 'Bearer',
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: verified.jti,
    };
    if (verified.scopes.length > 0) body.scope = verified.scopes.join(' ');
    return json(body);
  }

  private reject(
    ctx: RequestContext,
    response: OAuthResponse,
    reason: string,
    clientId?: string,
  ): OAuthResponse {
    this.options.publish(oauthFailure(ctx, 'introspection', reason, clientId));
    return response;
  }
}
