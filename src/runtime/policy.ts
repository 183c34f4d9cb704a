import { compileAuthPolicy, requiresScopes, type AuthPolicy } from '../auth/policy.js';
import type { PolicyConfig, RateLimitConfig } from '../core/config.js';
import { compileKey } from '../ratelimit/keys.js';
import type { CompiledLimit } from '../ratelimit/guard.js';

/** Everything a matched route enforces, compiled once at start. */
export interface RoutePolicy {
  reportOnly: boolean;
  rateLimits: readonly CompiledLimit[];
  auth: AuthPolicy;
}

export function compileLimit(config: RateLimitConfig, ipv6Prefix: number): CompiledLimit {
  return {
    policy: {
      name: config.name,
      algorithm: config.algorithm,
      limit: config.limit,
      windowMs: config.window,
      burst: config.burst,
      blockForMs: config.blockFor,
    },
    key: compileKey(config.key, ipv6Prefix),
    cost: config.cost,
    tiers: config.tiers,
  };
}

/**
 * Returns the limits of a route: the global limits, with a route limit of the same name
 * replacing the global one, then the route's own.
 */
export function mergeLimits(
  global: readonly CompiledLimit[],
  route: readonly CompiledLimit[],
  routeId: string,
): CompiledLimit[] {
  const globalNames = new Set(global.map((limit) => limit.policy.name));
  const routeNames = new Set(route.map((limit) => limit.policy.name));
  // An override counts on its own, per route: sharing the global counter would mix two
  // policies' state in one key.
  const own = route.map((limit) =>
    globalNames.has(limit.policy.name)
      ? { ...limit, counter: `${routeId}|${limit.policy.name}` }
      : limit,
  );
  return [...global.filter((limit) => !routeNames.has(limit.policy.name)), ...own];
}
export interface CompiledPolicy {
  globalLimits: readonly CompiledLimit[];
  /** The auth policy of requests that match no route. */
  defaultAuth: AuthPolicy;
  /**
   * Whether any policy accepts API keys, verifies JWTs or requires scopes; the guards are
   * left out otherwise.
   */
  usesApiKeys: boolean;
  usesJwt: boolean;
  usesScopes: boolean;
  routes: ReadonlyArray<{
    methods: readonly string[];
    path: string;
    id: string;
    policy: RoutePolicy;
  }>;
}

export function compilePolicy(config: PolicyConfig): CompiledPolicy {
  const ipv6Prefix = config.rateLimiting.ipv6Prefix;
  const globalLimits = config.rateLimits.map((limit) => compileLimit(limit, ipv6Prefix));
  const routes = config.routes.map((route) => ({
    methods: route.match.methods,
    path: route.match.path,
    id: route.match.text,
    policy: {
      reportOnly: route.reportOnly,
      rateLimits: mergeLimits(
        globalLimits,
        route.rateLimits.map((limit) => compileLimit(limit, ipv6Prefix)),
        route.match.text,
      ),
      auth: compileAuthPolicy(config.auth, route.auth),
    },
  }));
  const defaultAuth = compileAuthPolicy(config.auth);
  const policies = [defaultAuth, ...routes.map((route) => route.policy.auth)];
  return {
    globalLimits,
    defaultAuth,
    usesApiKeys: policies.some((policy) => policy.apiKey),
    usesJwt: policies.some((policy) => policy.jwt),
    usesScopes: policies.some(requiresScopes),
    routes,
  };
}
