import type { IncomingMessage } from 'node:http';

import type { RequestContext } from '../../core/context.js';
import type { EventDraft } from '../../events/schema.js';
import { AccessTokenError, type AccessTokens } from './access-tokens.js';
import { readAuthenticatedForm, type ClientAuthenticator } from './client-auth.js';
import { failurePublisher, type RejectRequest } from './events.js';
import { json, oauthError, type OAuthResponse } from './http.js';

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
  private readonly reject: RejectRequest;

  constructor(private readonly options: IntrospectionOptions) {
    this.reject = failurePublisher(options.publish, 'introspection');
  }

  async handle(req: IncomingMessage, ctx: RequestContext): Promise<OAuthResponse> {
    const request = await readAuthenticatedForm(req, ctx, this.options.clients, PARAMS);
    if (!request.ok) return this.reject(ctx, request.response, request.reason, request.clientId);
    const token = request.form.get('token');
    if (token === undefined)
      return this.reject(ctx, oauthError('invalid_request', 'token is missing'), 'invalid_request');

    let verified;
    try {
      verified = await this.options.tokens.verify(token);
    } catch (error) {
      if (error instanceof AccessTokenError) return json({ active: false });
      throw error;
    }
    if (verified.clientId !== request.client.id) return json({ active: false });

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
}
