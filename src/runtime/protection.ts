import type { IncomingMessage } from 'node:http';

import { ApiKeyGuard } from '../auth/api-key-guard.js';
import { MemoryApiKeyStore, type ApiKeyStore } from '../auth/api-key-store.js';
import { apiKeysDefaults } from '../auth/config-schema.js';
import { JwtGuard } from '../auth/jwt-guard.js';
import type { AccessTokens } from '../auth/oauth/access-tokens.js';
import { OAuthGuard } from '../auth/oauth/oauth-guard.js';
import { readPepper } from '../auth/pepper.js';
import type { AuthPolicy } from '../auth/policy.js';
import { ScopeGuard } from '../auth/scopes.js';
import { ApiVersioning, VersionGuard } from '../auth/versioning.js';
import type { PolicyConfig } from '../core/config.js';
import {
  policyOf,
  type BodyReader,
  type MatchedRoute,
  type RequestContext,
} from '../core/context.js';
import { CidrList } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { contextFromNodeRequest } from '../core/node-request.js';
import { Pipeline, type PipelineObserver } from '../core/pipeline.js';
import type { Guard } from '../core/guard.js';
import { EventBus } from '../events/bus.js';
import { createNetworkProtection, type NetworkProtection } from '../ddos/network.js';
import type { Priority } from '../ddos/config-schema.js';
import { LoadShedder } from '../ddos/load-shedding.js';
import { BodyGuard } from '../http/body.js';
import { AdapterBodyReader, announcesBody } from '../http/body-reader.js';
import {
  BodyViolationLog,
  streamedBodyEvent,
  type RequestBodyError,
} from '../http/body-rejections.js';
import { createFormParameterGuard } from '../http/form-parameters.js';
import { createHardening } from '../http/hardening.js';
import { RequestLimitsGuard, serverLimits, type ServerLimits } from '../http/limits.js';
import type { SecurityHeadersGuard } from '../http/security-headers.js';
import { createSignatureGuard } from '../http/signature-setup.js';
import { RateLimitGuard } from '../ratelimit/guard.js';
import { ExpressionGuard } from '../expression/guard.js';
import { createWafGuard } from '../validation/waf/setup.js';
import { createInputGuards } from '../validation/schema/setup.js';
import { attachUploadSource, createUploadGuard, type UploadGuard } from '../upload/guard.js';
import type { RateLimitStore } from '../ratelimit/policy.js';
import { canonicalPath, RouteTable } from './router.js';
import { compilePolicy, type RoutePolicy } from './policy.js';
import { createRateLimitStore } from './store.js';

export interface ProtectionOptions {
  logger?: Logger;
  bus?: EventBus;
  /** Overrides the store chosen from `storage`, e.g. a shared one in tests. */
  store?: RateLimitStore;
  observer?: PipelineObserver;
  /** Guards that run before authentication and rate limiting (cheaper ones). */
  extraGuards?: readonly Guard[];
  /**
   * The API key store. Without it no key is known, so every key is rejected. Either way the
   * pepper is read from the variable `auth.apiKeys.pepperEnv` names.
   */
  apiKeyStore?: ApiKeyStore;
  /**
   * The token verifier of the gateway's OAuth server. With it, the OAuth guard checks bearer
   * tokens on routes that accept `oauth`.
   */
  oauthTokens?: AccessTokens;
  /**
   * Creates the body reader of a request that has a body. By default it is the adapters'
   * reader, which puts a body it read back into the request for the application.
   */
  bodyReader?: (req: IncomingMessage, ctx: RequestContext) => BodyReader;
}

/**
 * The guards, routes and state compiled from one policy. The gateway and every adapter
 * build one and differ only in how they read requests and write responses.
 *
 * Guard order: network guards (bans, deny list, route allow lists, countries), HTTP policy
 * (security headers, URL and header size limits, method and path checks, CORS, repeated query
 * parameters, media type and body checks), extra guards, API version checks, request signatures, repeated form fields, OAuth, API key and JWT
 * authentication, rate limits, scope authorization, uploads, injection detection. CORS comes before authentication because
 * a preflight carries no credentials. The OAuth guard comes first and leaves
 * API keys and other issuers' tokens to the guards after it, so a route may accept any mix
 * of the three.
 * Authentication runs before rate limiting so that limits keyed on `user`, `client` or
 * `plan` see the principal. NOTE: per-IP limits therefore run after signature checks, so a
 * flood of bogus tokens costs a verification each before any limit applies.
 */
export class Protection {
  readonly pipeline: Pipeline;
  readonly routes: RouteTable<RoutePolicy>;
  readonly trustProxy: CidrList;
  readonly bus: EventBus;
  readonly store: RateLimitStore;
  /** API version resolution; undefined without a `versioning` section. */
  readonly versioning: ApiVersioning<RoutePolicy> | undefined;
  /** The security headers, also for responses the gateway writes outside the guards. */
  readonly securityHeaders: SecurityHeadersGuard;
  /**
   * The load shedder, which the gateway and the adapters run after the guards admitted a
   * request; undefined without a `loadShedding` section.
   */
  readonly loadShedder: LoadShedder | undefined;
  /** Bans, IP lists, country rules and the CDN client header. */
  readonly network: NetworkProtection;
  /** Node server settings that follow from the largest request limits of any route. */
  readonly serverLimits: ServerLimits;
  private readonly bodyReaderFor: (req: IncomingMessage, ctx: RequestContext) => BodyReader;
  /** Parses multipart bodies on routes with an `upload` policy; undefined without any. */
  private readonly uploadGuard: UploadGuard | undefined;
  private readonly bodyLog: BodyViolationLog;
  private readonly ownsBus: boolean;

  constructor(config: PolicyConfig, options: ProtectionOptions = {}) {
    const logger = options.logger ?? silentLogger;
    const compiled = compilePolicy(config);
    // Compiles every schema and may throw, so it comes before anything opens a file or socket.
    const checks = createInputGuards(config, logger);
    this.bodyLog = new BodyViolationLog(logger);
    this.ownsBus = options.bus === undefined;
    this.bus = options.bus ?? new EventBus({ logger });
    // First, because it reads files and may throw, before anything opens a connection.
    this.network = createNetworkProtection(config, { bus: this.bus, logger });
    this.trustProxy = new CidrList(config.trustProxy);
    this.routes = new RouteTable(compiled.routes);
    this.versioning =
      config.versioning &&
      new ApiVersioning(config.versioning, {
        policyOf: (name) => compiled.versions.get(name)!,
        canonicalPath,
      });
    this.store = options.store ?? createRateLimitStore(config.storage, { bus: this.bus, logger });

    const rateLimit = new RateLimitGuard({
      store: this.store,
      limits: compiled.globalLimits,
      limitsFor: (ctx) => (policyOf(ctx) as RoutePolicy | undefined)?.rateLimits,
      headers: config.rateLimiting.headers,
      reportOnly: config.rateLimiting.reportOnly,
    });
    const authn: Guard[] = [];
    if (options.oauthTokens)
      authn.push(new OAuthGuard(options.oauthTokens, compiled.defaultAuth, logger));
    if (compiled.usesApiKeys)
      authn.push(apiKeyGuard(config, compiled.defaultAuth, options, logger));
    if (compiled.usesJwt)
      authn.push(
        new JwtGuard(
          config.auth.jwt?.issuers ?? [],
          compiled.defaultAuth,
          config.auth.jwt?.cacheSize,
        ),
      );
    const authz = compiled.usesScopes ? [new ScopeGuard(compiled.defaultAuth)] : [];
    const expressionRules = compiled.routes.some((route) => route.policy.expressions)
      ? [new ExpressionGuard(logger)]
      : [];
    const waf = createWafGuard(config, { bus: this.bus, logger });
    this.uploadGuard = createUploadGuard(
      compiled.routes.flatMap((route) =>
        [route.policy, ...(route.policy.versions?.values() ?? [])].map((policy) => ({
          route: route.id,
          upload: policy.upload,
        })),
      ),
      { bus: this.bus, logger },
    );
    const uploadGuard = this.uploadGuard;
    const uploads = uploadGuard ? [uploadGuard] : [];
    // Schemas first, so that injection detection reads a stripped body; sanitizing last, so
    // that detection judges the HTML as sent.
    const input = [checks.schema, waf, checks.sanitize].filter((guard) => guard !== undefined);
    const versionGuard = this.versioning ? [new VersionGuard(this.versioning)] : [];
    const signatureGuard = createSignatureGuard(config, { logger });
    const signatures = signatureGuard ? [signatureGuard] : [];
    const formParameter = createFormParameterGuard(config);
    const formParameters = formParameter ? [formParameter] : [];
    const hardening = createHardening(config, {
      trustProxy: this.trustProxy,
      routeFor: (ctx, method) => this.routeFor(ctx, method),
    });
    this.securityHeaders = hardening.securityHeaders;
    this.loadShedder = createLoadShedder(config, this.bus, logger);
    const requestPolicy = compiled.requestPolicy;
    this.serverLimits = serverLimits([
      requestPolicy,
      ...compiled.routes.flatMap((route) => [
        route.policy,
        ...(route.policy.versions?.values() ?? []),
      ]),
    ]);
    this.bodyReaderFor =
      options.bodyReader ??
      ((req, ctx) => new AdapterBodyReader(req, (error) => this.reportBodyViolation(ctx, error)));
    this.pipeline = new Pipeline({
      guards: [
        ...this.network.guards,
        // Security headers first, so that every rejection carries them, then the size
        // limits, before any guard parses the path or the query.
        hardening.securityHeaders,
        new RequestLimitsGuard(requestPolicy),
        ...hardening.guards.filter((guard) => guard !== hardening.securityHeaders),
        new BodyGuard(requestPolicy, (ctx, error) => this.bodyLog.record(ctx, error)),
        ...(options.extraGuards ?? []),
        ...versionGuard,
        ...signatures,
        // After the signature guard, which checks Content-Digest against the body as sent.
        ...formParameters,
        ...authn,
        rateLimit,
        ...authz,
        // Expression rules read the principal, so they follow authentication and scopes.
        ...expressionRules,
        // Uploads before injection detection, which then reads the form fields and file
        // names in the JSON reference that replaces a multipart body.
        ...uploads,
        // Input checks last: they parse and inspect every value, the most work per request.
        ...input,
      ],
      bus: this.bus,
      logger,
      observer: options.observer,
      reportOnlyFor: (ctx) => (ctx.route?.policy as RoutePolicy | undefined)?.reportOnly === true,
      successEvents: authn.length > 0,
      // A request rejected after the upload guard stored its files leaves none behind.
      onReject: uploadGuard && ((ctx) => uploadGuard.discard(ctx)),
    });
  }

  /**
   * Builds the context for a node:http (or Express) request and matches its route once.
   * Pass `url` where a framework has rewritten `req.url`, as Express does under a mount path.
   */
  contextFor(req: IncomingMessage, url?: string): RequestContext {
    const ctx = contextFromNodeRequest(req, {
      trustProxy: this.trustProxy,
      cdn: this.network.cdn,
      url,
    });
    if (announcesBody(req.headers)) {
      ctx.bodyReader = this.bodyReaderFor(req, ctx);
      if (this.uploadGuard) attachUploadSource(ctx, req);
    }
    if (this.versioning === undefined) {
      ctx.route = this.routes.match(ctx.method, ctx.path);
      return ctx;
    }

    // Routes are matched without the version segment, so one route covers every version;
    // the version then selects the route's policy. The request keeps its original path.
    const resolution = this.versioning.resolve(ctx.headers, ctx.path);
    const route = this.routes.match(ctx.method, resolution.routePath);
    const version = resolution.version;
    if (version !== undefined) {
      ctx.version = version;
      // Lifecycle headers go on every response of the version, rejections included.
      for (const name in version.headers) ctx.responseHeaders[name] = version.headers[name]!;
      if (route !== undefined)
        route.policy = route.policy.versions?.get(version.name) ?? route.policy;
    }
    ctx.route = route;
    return ctx;
  }

  /**
   * Matches the route `method` would reach on the request's path, as `contextFor` does. A
   * CORS preflight uses it to find the policy of the method it requests.
   */
  routeFor(ctx: RequestContext, method: string): MatchedRoute<RoutePolicy> | undefined {
    const path = this.versioning
      ? this.versioning.resolve(ctx.headers, ctx.path).routePath
      : ctx.path;
    return this.routes.match(method, path);
  }

  /**
   * Waits up to `timeoutMs` for a shared store to connect and resolves false if it did not.
   * Until it connects, the store's failure mode decides requests.
   */
  async ready(timeoutMs: number): Promise<boolean> {
    const store = this.store as RateLimitStore & {
      whenReady?: (timeoutMs: number) => Promise<boolean>;
    };
    return store.whenReady ? store.whenReady(timeoutMs) : true;
  }

  /**
   * Reports a body cut off after the guards admitted its request, while it streamed to the
   * upstream or the application: an event like a guard's, and a log line.
   */
  reportBodyViolation(ctx: RequestContext, error: RequestBodyError): void {
    this.bodyLog.record(ctx, error);
    this.bus.publish(streamedBodyEvent(ctx, error, 'body'));
  }

  async close(): Promise<void> {
    this.loadShedder?.close();
    await this.pipeline.close();
    await this.network.close();
    if (this.ownsBus) await this.bus.close();
  }
}

function createLoadShedder(
  config: PolicyConfig,
  bus: EventBus,
  logger: Logger,
): LoadShedder | undefined {
  if (config.loadShedding === undefined) return undefined;
  const routePriorities = new Map<string, Priority>();
  for (const route of config.routes) {
    if (route.loadShedding) routePriorities.set(route.match.text, route.loadShedding.priority);
  }
  return new LoadShedder(config.loadShedding, {
    bus,
    logger,
    routePriorities,
    reportOnlyFor: (ctx) => (ctx.route?.policy as RoutePolicy | undefined)?.reportOnly === true,
  });
}

function apiKeyGuard(
  config: PolicyConfig,
  fallback: AuthPolicy,
  options: ProtectionOptions,
  logger: Logger,
): ApiKeyGuard {
  const settings = config.auth.apiKeys ?? apiKeysDefaults;
  const pepper = readPepper(settings);
  let store = options.apiKeyStore;
  if (store === undefined) {
    logger.warn(
      'API keys are accepted, but no API key store is configured, so every key is rejected',
    );
    store = new MemoryApiKeyStore({ pepper });
  }
  return new ApiKeyGuard({
    store,
    pepper,
    logger,
    header: settings.header,
    lastUsedFlushIntervalMs: settings.lastUsedFlushInterval,
    fallback,
    onStoreError: (error) => logger.error({ err: error }, 'writing API key last-use times failed'),
  });
}
