import type { PolicyConfig } from '../core/config.js';
import type { MatchedRoute, RequestContext } from '../core/context.js';
import type { Guard } from '../core/guard.js';
import type { CidrList } from '../core/ip.js';
import { CorsGuard } from './cors.js';
import { ParameterGuard } from './parameters.js';
import { RequestTargetGuard } from './request-target.js';
import { SecurityHeadersGuard } from './security-headers.js';

export interface HardeningOptions {
  trustProxy: CidrList;
  /** Matches the route of a method and the request's path, for CORS preflights. */
  routeFor: (ctx: RequestContext, method: string) => MatchedRoute | undefined;
}

/** The HTTP policy guards in their order, and the security headers for Bulwark's own responses. */
export interface Hardening {
  readonly guards: readonly Guard[];
  readonly securityHeaders: SecurityHeadersGuard;
}

/**
 * Builds the HTTP policy guards from the policy, in this order: security headers (never
 * rejects, so later rejections carry the headers), method and path checks, CORS, repeated
 * query parameters. Guards a policy does not use are left out.
 */
export function createHardening(config: PolicyConfig, options: HardeningOptions): Hardening {
  const routes = config.routes.map((route) => ({
    id: route.match.text,
    cors: route.cors,
    securityHeaders: route.securityHeaders,
    parameters: route.parameters,
  }));
  const securityHeaders = new SecurityHeadersGuard({
    global: config.securityHeaders,
    routes,
    trustProxy: options.trustProxy,
  });
  const cors = new CorsGuard({ global: config.cors, routes, routeFor: options.routeFor });

  const guards: Guard[] = [securityHeaders];
  if (config.requestTarget.enabled) guards.push(new RequestTargetGuard(config.requestTarget));
  if (cors.enabled) guards.push(cors);
  if (config.parameters.enabled)
    guards.push(new ParameterGuard({ global: config.parameters, routes }));
  return { guards, securityHeaders };
}
