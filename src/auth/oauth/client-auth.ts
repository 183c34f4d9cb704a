import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import type { Clock } from '../../core/clock.js';
import type { RequestContext } from '../../core/context.js';
import { ApiKeyHasher } from '../api-key-store.js';
import { clientSecretMatches, type ClientRecord, type ClientStore } from '../client-store.js';
import {
  isOAuthResponse,
  oauthError,
  readForm,
  type FormParams,
  type OAuthResponse,
} from './http.js';

/** Client authentication methods of RFC 6749 section 2.3.1, as RFC 8414 names them. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export const clientAuthMethods: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
];

/** Why client authentication failed: a stable code in `auth.failure` events. */
export type ClientAuthFailure =
  | 'missing_credentials'
  | 'unsupported_method'
  | 'malformed_credentials'
  | 'multiple_methods'
  | 'unknown_client'
  | 'invalid_secret'
  | 'secret_expired';

export interface PresentedClient {
  method: ClientAuthMethod;
  clientId: string;
  secret: string;
}

export type ClientAuthResult =
  | { ok: true; client: ClientRecord; method: ClientAuthMethod }
  | {
      ok: false;
      reason: ClientAuthFailure;
      response: OAuthResponse;
      /** Set only when the id names a stored client, because the value is client input. */
      clientId?: string;
    };

// RFC 7617: the charset parameter makes clients encode the credentials as UTF-8.
export const BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"';
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const SCHEME = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)/;
// Ids issued here are 24 characters; a longer value is no client's and skips the lookup.
const MAX_CLIENT_ID_LENGTH = 256;

/**
 * Returns the `invalid_client` response: 401 with a Basic challenge. RFC 6749 section 5.2
 * requires the challenge when the client used Basic, and RFC 9110 section 15.5.2 requires a
 * challenge on every 401, so it is always sent. The description is the same for an unknown
 * client, a wrong secret and an expired secret, so that it reveals nothing about which ids exist.
 */
export function invalidClient(description = 'client authentication failed'): OAuthResponse {
  return oauthError('invalid_client', description, 401, { 'www-authenticate': BASIC_CHALLENGE });
}

type Presented = { ok: true; client: PresentedClient } | Extract<ClientAuthResult, { ok: false }>;

/**
 * Reads the client credentials of a request: HTTP Basic (`client_secret_basic`) or
 * `client_id` and `client_secret` in the form (`client_secret_post`). RFC 6749 section 2.3
 * forbids using both in one request.
 */
export function presentedClient(authorization: string | undefined, form: FormParams): Presented {
  const formId = form.get('client_id');
  const formSecret = form.get('client_secret');

  if (authorization !== undefined) {
    if (SCHEME.exec(authorization)?.[1]?.toLowerCase() !== 'basic')
      return failed(
        'unsupported_method',
        invalidClient('the Authorization header must use the Basic scheme'),
      );
    const basic = basicCredentials(authorization);
    if (basic === undefined)
      return failed(
        'malformed_credentials',
        oauthError(
          'invalid_request',
          'Basic credentials must be base64 of client_id:client_secret, each form-urlencoded',
        ),
      );
    if (formSecret !== undefined)
      return failed(
        'multiple_methods',
        oauthError(
          'invalid_request',
          'use one client authentication method, not both Basic and client_secret in the body',
        ),
      );
    if (formId !== undefined && formId !== basic.clientId)
      return failed(
        'multiple_methods',
        oauthError('invalid_request', 'client_id in the body differs from the Basic credentials'),
      );
    return { ok: true, client: { method: 'client_secret_basic', ...basic } };
  }

  if (formSecret !== undefined) {
    if (formId === undefined)
      return failed(
        'malformed_credentials',
        oauthError('invalid_request', 'client_secret is sent without client_id'),
      );
    return {
      ok: true,
      client: { method: 'client_secret_post', clientId: formId, secret: formSecret },
    };
  }
  if (formId !== undefined)
    return failed(
      'missing_credentials',
      invalidClient('client_secret is missing; this server has confidential clients only'),
    );
  return failed(
    'missing_credentials',
    invalidClient(
      'client authentication is missing: use HTTP Basic, or client_id and client_secret in the body',
    ),
  );
}

/**
 * Checks presented credentials against the client store. An unknown client costs one HMAC
 * as a known one does, so that response times do not tell which client ids exist.
 */
export class ClientAuthenticator {
  private readonly hasher: ApiKeyHasher;
  private readonly decoyHash: string;

  constructor(
    private readonly store: ClientStore,
    pepper: string | Buffer,
    private readonly clock: Clock,
  ) {
    this.hasher = new ApiKeyHasher(pepper);
    this.decoyHash = this.hasher.hash(randomBytes(32).toString('hex'));
  }

  async authenticate(presented: PresentedClient): Promise<ClientAuthResult> {
    const record =
      presented.clientId.length > MAX_CLIENT_ID_LENGTH
        ? undefined
        : await this.store.findClient(presented.clientId);
    if (record === undefined) {
      this.hasher.matches(presented.secret, this.decoyHash);
      return failed('unknown_client', invalidClient());
    }

    const now = this.clock.now();
    if (clientSecretMatches(record, presented.secret, this.hasher, now))
      return { ok: true, client: record, method: presented.method };
    const reason = this.matchesExpired(record, presented.secret, now)
      ? 'secret_expired'
      : 'invalid_secret';
    return { ...failed(reason, invalidClient()), clientId: record.id };
  }

  // Tells an old secret used after its overlap from a wrong one, for the event only.
  private matchesExpired(record: ClientRecord, secret: string, now: number): boolean {
    return record.secrets.some(
      (stored) =>
        stored.expiresAt !== undefined &&
        now >= stored.expiresAt &&
        this.hasher.matches(secret, stored.hash),
    );
  }
}

/**
 * Decodes `Basic base64(urlencode(id) ":" urlencode(secret))`. RFC 6749 section 2.3.1 has the
 * client form-urlencode both parts before joining them, so a `:` inside the id arrives as `%3A`.
 */
function basicCredentials(header: string): { clientId: string; secret: string } | undefined {
  const encoded = BASIC.exec(header)?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (clientId === undefined || secret === undefined || clientId === '') return undefined;
  return { clientId, secret };
}

function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function failed(
  reason: ClientAuthFailure,
  response: OAuthResponse,
): Extract<ClientAuthResult, { ok: false }> {
  return { ok: false, reason, response };
}

/** A form body and the client that sent it, or the reason the request was rejected. */
export type AuthenticatedForm =
  | { ok: true; form: FormParams; client: ClientRecord; method: ClientAuthMethod }
  | {
      ok: false;
      reason: ClientAuthFailure | 'invalid_request';
      response: OAuthResponse;
      /** Set only when the id names a stored client, because the value is client input. */
      clientId?: string;
    };

/**
 * Reads the form body of a request and authenticates the client that sent it. A form that
 * cannot be read is an `invalid_request`, reported before any client credentials are checked.
 */
export async function readAuthenticatedForm(
  req: IncomingMessage,
  ctx: RequestContext,
  clients: ClientAuthenticator,
  known: ReadonlySet<string>,
): Promise<AuthenticatedForm> {
  const form = await readForm(req, known);
  if (isOAuthResponse(form)) return { ok: false, reason: 'invalid_request', response: form };

  const presented = presentedClient(ctx.headers.authorization, form);
  if (!presented.ok) return presented;
  const auth = await clients.authenticate(presented.client);
  return auth.ok ? { ...auth, form } : auth;
}
