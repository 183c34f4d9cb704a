import type { IncomingMessage } from 'node:http';

import type { RequestContext } from '../../core/context.js';
import type { EventDraft } from '../../events/schema.js';
import type { CredentialChange } from '../invalidation.js';
import { looksLikeApiKey } from '../api-key-format.js';
import { AccessTokenError, type AccessTokens } from './access-tokens.js';
import { readAuthenticatedForm, type ClientAuthenticator } from './client-auth.js';
import { failurePublisher, oauthEvent, type RejectRequest } from './events.js';
import { NO_STORE, oauthError, type OAuthResponse } from './http.js';

const PARAMS = new Set(['token', 'token_type_hint', 'client_id', 'client_secret']);
const REVOKED: OAuthResponse = { status: 200, headers: NO_STORE };

export interface RevocationOptions {
  clients: ClientAuthenticator;
  tokens: AccessTokens;
  publish: (event: EventDraft) => void;
  /** Tells other instances to drop their cached state of the token; never rejects. */
  notify: (change: CredentialChange) => Promise<void>;
}

/**
 * Token revocation (RFC 7009). The caller authenticates as a client and may revoke its own
 * access tokens. The `jti` is stored until the token expires, and the oauth guard rejects
 * the token from then on.
 *
 * - An invalid, expired or unknown token gets 200, because section 2.2 notes that the client
 *   cannot act on such an error. `token_type_hint` is accepted and not needed, because this
 *   server issues access tokens only.
 * - A valid token of another client is refused with `unauthorized_client`, because section
 *   2.1 says to refuse it and inform the client.
 * - An API key gets `unsupported_token_type` (section 2.2.1), because API keys are revoked
 *   through the admin API or the CLI.
 */
export class RevocationEndpoint {
  private readonly reject: RejectRequest;

  constructor(private readonly options: RevocationOptions) {
    this.reject = failurePublisher(options.publish, 'revocation');
  }

  async handle(req: IncomingMessage, ctx: RequestContext): Promise<OAuthResponse> {
    const request = await readAuthenticatedForm(req, ctx, this.options.clients, PARAMS);
    if (!request.ok) return this.reject(ctx, request.response, request.reason, request.clientId);
    const clientId = request.client.id;
    const token = request.form.get('token');
    if (token === undefined)
      return this.reject(
        ctx,
        oauthError('invalid_request', 'token is missing'),
        'invalid_request',
        clientId,
      );
    if (looksLikeApiKey(token)) {
      const description = 'API keys cannot be revoked here; use the admin API or the CLI';
      return this.reject(
        ctx,
        oauthError('unsupported_token_type', description),
        'api_key',
        clientId,
      );
    }

    let verified;
    try {
      verified = await this.options.tokens.verify(token, false);
    } catch (error) {
      if (error instanceof AccessTokenError) return REVOKED;
      throw error;
    }
    if (verified.clientId !== clientId) {
      this.options.publish(
        oauthEvent(ctx, {
          type: 'authz.denied',
          category: 'authorization',
          severity: 'medium',
          outcome: 'failure',
          clientId,
          target: { resourceType: 'access_token', resourceId: verified.jti },
          details: { endpoint: 'revocation', reason: 'foreign_token' },
        }),
      );
      return oauthError('unauthorized_client', 'the token was issued to another client');
    }

    await this.options.tokens.revoke(verified.jti, verified.exp);
    await this.options.notify({ kind: 'token', id: verified.jti });
    this.options.publish(
      oauthEvent(ctx, {
        type: 'credential.revoked',
        category: 'credential',
        severity: 'info',
        outcome: 'success',
        clientId,
        target: { resourceType: 'access_token', resourceId: verified.jti },
        details: { endpoint: 'revocation', jti: verified.jti, expiresAt: verified.exp * 1000 },
      }),
    );
    return REVOKED;
  }
}
