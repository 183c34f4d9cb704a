import { policyOf, type RequestContext } from '../core/context.js';
import type { AuthConfig, RouteAuthConfig } from './config-schema.js';

/** The credentials a route accepts and the scopes it requires, compiled at start. */
export interface AuthPolicy {
  /** An API key is verified when sent, and required unless another method admits the request. */
  apiKey: boolean;
  /** A bearer JWT is verified when sent, and required unless `anonymous` is set. */
  jwt: boolean;
  /**
   * A bearer access token of this gateway's OAuth server is verified when sent, as `jwt` is.
   * Optional so that policies written before the OAuth server keep compiling.
   */
  oauth?: boolean;
  anonymous: boolean;
  /** Scopes the principal must all hold. */
  allScopes: readonly string[];
  /** Scopes of which the principal must hold one; empty means no such requirement. */
  anyScopes: readonly string[];
}

/**
 * Compiles the global policy, or a route's policy on top of it: each field a route sets
 * (`methods`, `scopes`) replaces the global one. Without any `auth` section every request is
 * anonymous, as before authentication existed.
 */
export function compileAuthPolicy(global: AuthConfig, route?: RouteAuthConfig): AuthPolicy {
  const methods = route?.methods ?? global.methods ?? ['anonymous'];
  const scopes = route?.scopes ?? global.scopes;
  return {
    apiKey: methods.includes('apiKey'),
    jwt: methods.includes('jwt'),
    oauth: methods.includes('oauth'),
    anonymous: methods.includes('anonymous'),
    allScopes: scopes?.all ?? [],
    anyScopes: scopes?.any ?? [],
  };
}

export function requiresScopes(policy: AuthPolicy): boolean {
  return policy.allScopes.length > 0 || policy.anyScopes.length > 0;
}

/**
 * Returns the policy of the matched route, else of the request's API version, or `fallback`
 * for a request that matched neither.
 */
export function authPolicyOf(ctx: RequestContext, fallback: AuthPolicy): AuthPolicy {
  return (policyOf(ctx) as { auth?: AuthPolicy } | undefined)?.auth ?? fallback;
}
