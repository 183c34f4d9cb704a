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
import { policyOf, type RequestContext } from '../core/context.js';
import { CidrList } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { contextFromNodeRequest } from '../core/node-request.js';
import { Pipeline, type PipelineObserver } from '../core/pipeline.js';
import type { Guard } from '../core/guard.js';
import { EventBus } from '../events/bus.js';
import { RateLimitGuard } from '../ratelimit/guard.js';
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
}

/**
 * The guards, routes and state compiled from one policy. The gateway and every adapter
 * build one and differ only in how they read requests and write responses.
 *
 * Guard order: extra guards, API version checks, OAuth, API key and JWT authentication,
 * rate limits, scope authorization. The OAuth guard comes first and leaves API keys and other
 * issuers' tokens to the guards after it, so a route may accept any mix of the three.
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
  private readonly ownsBus: boolean;

  constructor(config: PolicyConfig, options: ProtectionOptions = {}) {
    const logger = options.logger ?? silentLogger;
    const compiled = compilePolicy(config);
    this.ownsBus = options.bus === undefined;
    this.bus = options.bus ?? new EventBus({ logger });
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
    const versionGuard = this.versioning ? [new VersionGuard(this.versioning)] : [];
    this.pipeline = new Pipeline({
      guards: [...(options.extraGuards ?? []), ...versionGuard, ...authn, rateLimit, ...authz],
      bus: this.bus,
      logger,
      observer: options.observer,
      reportOnlyFor: (ctx) => (ctx.route?.policy as RoutePolicy | undefined)?.reportOnly === true,
      successEvents: authn.length > 0,
    });
  }

  /**
   * Builds the context for a node:http (or Express) request and matches its route once.
   * Pass `url` where a framework has rewritten `req.url`, as Express does under a mount path.
   */
  contextFor(req: IncomingMessage, url?: string): RequestContext {
    const ctx = contextFromNodeRequest(req, { trustProxy: this.trustProxy, url });
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
   * Waits up to `timeoutMs` for a shared store to connect and resolves false if it did not.
   * Until it connects, the store's failure mode decides requests.
   */
  async ready(timeoutMs: number): Promise<boolean> {
    const store = this.store as RateLimitStore & {
      whenReady?: (timeoutMs: number) => Promise<boolean>;
    };
    return store.whenReady ? store.whenReady(timeoutMs) : true;
  }

  async close(): Promise<void> {
    await this.pipeline.close();
    if (this.ownsBus) await this.bus.close();
  }
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
