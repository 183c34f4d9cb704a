import type { IncomingMessage, ServerResponse } from 'node:http';

import { systemClock, type Clock } from '../../core/clock.js';
import type { RequestContext } from '../../core/context.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { isPromise } from '../../core/guard.js';
import { sendAnswer, sendProblem } from '../../core/http-response.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { Decision } from '../../core/pipeline.js';
import type { EventBus } from '../../events/bus.js';
import type { CredentialStores } from '../../storage/credentials.js';
import type { CredentialChange } from '../invalidation.js';
import { AccessTokens } from './access-tokens.js';
import { ClientAuthenticator } from './client-auth.js';
import type { OAuthConfig } from './config-schema.js';
import { jwksResponse, metadataResponse } from './discovery.js';
import { oauthError, writeResponse, type OAuthResponse } from './http.js';
import { IntrospectionEndpoint } from './introspection.js';
import { RevocationEndpoint } from './revocation.js';
import { SigningKeyRing } from './signing-keys.js';
import { TokenEndpoint } from './token-endpoint.js';

export interface OAuthServerOptions {
  config: OAuthConfig;
  credentials: Pick<CredentialStores, 'clients' | 'revokedTokens' | 'signingKeys'>;
  /** The server pepper: client secret hashes and the signing key encryption derive from it. */
  pepper: string | Buffer;
  bus: EventBus;
  /** `scopes_supported` of the metadata when the configuration lists none. */
  policyScopes?: readonly string[];
  logger?: Logger;
  clock?: Clock;
  /** Announces a revoked token or a new signing key to other instances. */
  notify?: (change: CredentialChange) => Promise<void>;
}

/** Runs before every endpoint, e.g. the global per-IP rate limits. */
export type EndpointPrecheck = (ctx: RequestContext) => Decision | Promise<Decision>;

type Handler = (
  req: IncomingMessage,
  ctx: RequestContext,
) => Promise<OAuthResponse> | OAuthResponse;

interface Endpoint {
  /** `POST` for the form endpoints, `GET` (and `HEAD`) for the documents. */
  method: 'POST' | 'GET';
  handle: Handler;
}

const PURGE_INTERVAL_MS = 3_600_000;
// Names whose presence in a URL means a secret or token went into logs (RFC 6749 section 2.3.1).
const SECRET_QUERY = /(?:^|&)(?:client_secret|token)=/;

/**
 * The OAuth 2.0 client-credentials server of the gateway: token, introspection and
 * revocation endpoints, the JWKS and the server metadata. The gateway calls `handle` for
 * the paths `serves` claims, before the guard pipeline, so route authentication never
 * applies to them.
 */
export class OAuthServer {
  readonly keys: SigningKeyRing;
  readonly tokens: AccessTokens;
  private readonly endpoints: ReadonlyMap<string, Endpoint>;
  private readonly config: OAuthConfig;
  private readonly credentials: OAuthServerOptions['credentials'];
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly scopes: readonly string[];
  private precheck: EndpointPrecheck | undefined;
  private readonly notify: OAuthServerOptions['notify'];
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(options: OAuthServerOptions) {
    const { config, credentials } = options;
    this.config = config;
    this.credentials = credentials;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.scopes = config.scopesSupported ?? options.policyScopes ?? [];
    this.keys = new SigningKeyRing({
      store: credentials.signingKeys,
      pepper: options.pepper,
      algorithm: config.signingKeys.algorithm,
      rotateEveryMs: config.signingKeys.rotateEvery,
      keepRetiredForMs: config.signingKeys.keepRetiredFor,
      clock: this.clock,
      logger: this.logger,
    });
    this.tokens = new AccessTokens({
      keys: this.keys,
      revoked: credentials.revokedTokens,
      lifetimeMs: config.tokenLifetime,
      clockToleranceMs: config.clockTolerance,
      clock: this.clock,
    });
    if (config.issuer !== undefined)
      this.tokens.configure(config.issuer, this.audienceFor(config.issuer));

    this.notify = options.notify;
    this.endpoints = this.createEndpoints(options);
  }

  /** Loads or creates the signing keys and starts the periodic cleanup of revocations. */
  async start(): Promise<void> {
    await this.keys.start();
    this.purgeTimer = setInterval(() => void this.purgeRevocations(), PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
  }

  /**
   * Takes the issuer from the URL the gateway listens on, unless `oauth.issuer` is set. That
   * URL is wrong behind a proxy or on 0.0.0.0, so the fallback is logged as a warning.
   */
  useListenUrl(url: string): void {
    if (this.config.issuer !== undefined) return;
    this.tokens.configure(url, this.audienceFor(url));
    this.logger.warn(
      { issuer: url },
      'oauth.issuer is not set; tokens name the listen URL as issuer. Set oauth.issuer to the URL clients use',
    );
  }

  /** Runs `precheck` (the global per-IP limits) before every endpoint. */
  checkBefore(precheck: EndpointPrecheck | undefined): void {
    this.precheck = precheck;
  }

  serves(path: string): boolean {
    return this.endpoints.has(path);
  }

  /** Replaces the signing key now; tokens signed by the old key stay valid until they expire. */
  async rotateSigningKey(): Promise<string> {
    const kid = await this.keys.rotate();
    await this.announce({ kind: 'signingKey', id: kid });
    return kid;
  }

  /** Applies a change announced by this or another instance to the caches here. */
  applyCredentialChange(change: CredentialChange): void {
    if (change.kind === 'token') this.tokens.forgetRevocation(change.id);
    if (change.kind === 'signingKey') {
      this.keys
        .refresh()
        .catch((error: unknown) =>
          this.logger.error({ err: error, kid: change.id }, 'reading OAuth signing keys failed'),
        );
    }
  }

  /** Responds to a request for one of the paths `serves` claims. Never rejects. */
  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    const endpoint = this.endpoints.get(ctx.path)!;
    const checked = this.precheck?.(ctx);
    if (checked === undefined) {
      void this.respond(req, res, ctx, endpoint);
    } else if (isPromise(checked)) {
      checked.then(
        (decision) => this.afterPrecheck(req, res, ctx, endpoint, decision),
        (error: unknown) => this.failed(res, ctx, error),
      );
    } else {
      this.afterPrecheck(req, res, ctx, endpoint, checked);
    }
  }

  close(): void {
    this.keys.close();
    clearInterval(this.purgeTimer);
  }

  private createEndpoints(options: OAuthServerOptions): ReadonlyMap<string, Endpoint> {
    const { config, credentials, bus } = options;
    const clients = new ClientAuthenticator(credentials.clients, options.pepper, this.clock);
    const publish = (event: Parameters<EventBus['publish']>[0]): void => void bus.publish(event);
    const endpointOptions = { clients, tokens: this.tokens, publish };
    const token = new TokenEndpoint(endpointOptions);
    const introspection = new IntrospectionEndpoint(endpointOptions);
    const notify = (change: CredentialChange): Promise<void> => this.announce(change);
    const revocation = new RevocationEndpoint({ ...endpointOptions, notify });
    return new Map<string, Endpoint>([
      [config.paths.token, { method: 'POST', handle: (req, ctx) => token.handle(req, ctx) }],
      [
        config.paths.introspection,
        { method: 'POST', handle: (req, ctx) => introspection.handle(req, ctx) },
      ],
      [
        config.paths.revocation,
        { method: 'POST', handle: (req, ctx) => revocation.handle(req, ctx) },
      ],
      [config.paths.jwks, { method: 'GET', handle: () => jwksResponse(this.keys) }],
      [
        config.paths.metadata,
        {
          method: 'GET',
          handle: () => metadataResponse(this.tokens.issuer, this.config, this.scopes),
        },
      ],
    ]);
  }

  private afterPrecheck(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    endpoint: Endpoint,
    decision: Decision,
  ): void {
    if (decision.action === 'continue') {
      void this.respond(req, res, ctx, endpoint);
      return;
    }
    const headers: Record<string, string> = {
      ...decision.headers,
      'x-request-id': ctx.correlationId,
    };
    if (decision.action === 'respond') {
      sendAnswer(res, decision.status, headers);
      return;
    }
    // A rejected body is never read; closing the connection stops the client sending it.
    if (hasBody(req)) headers.connection = 'close';
    sendProblem(res, decision.body, headers, ctx.correlationId);
  }

  private async respond(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    endpoint: Endpoint,
  ): Promise<void> {
    const head = req.method === 'HEAD' && endpoint.method === 'GET';
    let response: OAuthResponse;
    try {
      response =
        req.method === endpoint.method || head
          ? await this.dispatch(req, ctx, endpoint)
          : notAllowed(endpoint);
    } catch (error) {
      this.failed(res, ctx, error);
      return;
    }
    if (hasBody(req) && !req.readableEnded) response.headers.connection = 'close';
    writeResponse(
      res,
      response,
      { ...ctx.responseHeaders, 'x-request-id': ctx.correlationId },
      head,
    );
  }

  private dispatch(req: IncomingMessage, ctx: RequestContext, endpoint: Endpoint) {
    const query = ctx.url.indexOf('?');
    if (endpoint.method === 'POST' && query !== -1 && SECRET_QUERY.test(ctx.url.slice(query + 1)))
      return oauthError(
        'invalid_request',
        'credentials and tokens must be sent in the request body, never in the URL',
      );
    return endpoint.handle(req, ctx);
  }

  private failed(res: ServerResponse, ctx: RequestContext, error: unknown): void {
    this.logger.error({ err: error, requestId: ctx.id, path: ctx.path }, 'OAuth endpoint failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const response =
      error instanceof StoreUnavailableError
        ? oauthError(
            'temporarily_unavailable',
            'the credential store is unavailable; retry later',
            503,
            {
              'retry-after': '5',
            },
          )
        : oauthError('server_error', 'the request could not be processed; retry later', 500);
    response.headers.connection = 'close';
    writeResponse(res, response, { 'x-request-id': ctx.correlationId }, false);
  }

  // The store is the record; a lost notice only delays other instances by the cache lifetime.
  private async announce(change: CredentialChange): Promise<void> {
    try {
      await this.notify?.(change);
    } catch (error) {
      this.logger.error({ err: error, change }, 'announcing an OAuth credential change failed');
    }
  }

  private async purgeRevocations(): Promise<void> {
    try {
      const removed = await this.credentials.revokedTokens.purgeRevokedTokens(this.clock.now());
      if (removed > 0) this.logger.info({ removed }, 'expired token revocations purged');
    } catch (error) {
      this.logger.error({ err: error }, 'purging expired token revocations failed; retrying later');
    }
  }

  private audienceFor(issuer: string): string[] {
    const audience = this.config.audience ?? issuer;
    return Array.isArray(audience) ? [...audience] : [audience as string];
  }
}

function notAllowed(endpoint: Endpoint): OAuthResponse {
  const allow = endpoint.method === 'POST' ? 'POST' : 'GET, HEAD';
  return oauthError('invalid_request', `use ${allow} on this endpoint`, 405, { allow });
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
