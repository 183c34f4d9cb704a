import type { MatchedRoute, RequestContext } from '../core/context.js';
import { headerValue } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Respond, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import { effectiveCors, type CorsConfig } from './hardening-config.js';
import { OriginMatcher, type OriginPattern } from './origin-pattern.js';

/**
 * CORS (Fetch standard, "CORS protocol"). On a route with CORS the gateway decides alone:
 * - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) gets 204 with
 *   the allowed methods, headers and `Access-Control-Max-Age`, or a 403 problem, from the
 *   gateway, and is never forwarded;
 * - an actual request from an allowed origin gets `Access-Control-Allow-Origin` and the
 *   other response headers; one from another origin gets none, or 403 with
 *   `rejectDisallowed`;
 * - every response carries `Vary: Origin`, so a cache never serves one origin's answer to
 *   another, and the upstream's own `Access-Control-*` headers are dropped, so an upstream
 *   that reflects every origin cannot widen the policy.
 *
 * A preflight is an `OPTIONS` request, but it asks about another method, so its policy is
 * the one of the route the requested method and path match.
 */

/** One route's CORS settings, compiled. */
interface CompiledCors {
  readonly anyOrigin: boolean;
  readonly origins: OriginMatcher;
  readonly credentials: boolean;
  readonly rejectDisallowed: boolean;
  readonly methods: ReadonlySet<string>;
  /** Allowed request headers in lower case; undefined for `*`. */
  readonly allowHeaders: ReadonlySet<string> | undefined;
  /** The preflight headers that do not depend on the origin. */
  readonly preflightHeaders: Readonly<Record<string, string>>;
  /** `Access-Control-Expose-Headers`, or undefined when none are exposed. */
  readonly exposeHeaders: string | undefined;
}

export interface CorsGuardOptions {
  global: CorsConfig | undefined;
  routes: ReadonlyArray<{ id: string; cors: Parameters<typeof effectiveCors>[1] }>;
  /** Matches the route of a method and the request's path, for preflights. */
  routeFor: (ctx: RequestContext, method: string) => MatchedRoute | undefined;
}

/** Response headers the CORS protocol defines; the upstream's copies are dropped. */
export const CORS_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
  'access-control-allow-private-network',
]);

const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class CorsGuard implements Guard {
  readonly name = 'cors';
  private readonly global: CompiledCors | undefined;
  /** Per route id: its compiled settings, or null where the route turns CORS off. */
  private readonly byRoute = new Map<string, CompiledCors | null>();
  private readonly routeFor: CorsGuardOptions['routeFor'];

  constructor(options: CorsGuardOptions) {
    this.global = options.global && compileCors(options.global);
    this.routeFor = options.routeFor;
    for (const route of options.routes) {
      if (route.cors === undefined) continue;
      const merged = effectiveCors(options.global, route.cors);
      this.byRoute.set(route.id, merged === undefined ? null : compileCors(merged as CorsConfig));
    }
  }

  /** Tells whether any policy enables CORS, so that the guard can be left out otherwise. */
  get enabled(): boolean {
    return this.global !== undefined || [...this.byRoute.values()].some((cors) => cors !== null);
  }

  check(ctx: RequestContext): Verdict {
    const origin = headerValue(ctx.headers, 'origin');
    const requestedMethod =
      ctx.method === 'OPTIONS'
        ? headerValue(ctx.headers, 'access-control-request-method')
        : undefined;
    if (origin !== undefined && requestedMethod !== undefined) {
      return this.preflight(ctx, origin, requestedMethod);
    }

    const cors = this.policyFor(ctx.route);
    if (cors === undefined) return CONTINUE;
    addVary(ctx, 'Origin');
    ctx.droppedResponseHeaders = CORS_RESPONSE_HEADERS;
    if (origin === undefined) return CONTINUE;

    if (!cors.anyOrigin && !cors.origins.matches(origin)) {
      return cors.rejectDisallowed ? corsRejected('origin_not_allowed', false) : CONTINUE;
    }
    ctx.responseHeaders['access-control-allow-origin'] = allowOriginValue(cors, origin);
    if (cors.credentials) ctx.responseHeaders['access-control-allow-credentials'] = 'true';
    if (cors.exposeHeaders !== undefined)
      ctx.responseHeaders['access-control-expose-headers'] = cors.exposeHeaders;
    return CONTINUE;
  }

  private preflight(ctx: RequestContext, origin: string, method: string): Verdict {
    const route = TOKEN.test(method) ? this.routeFor(ctx, method) : ctx.route;
    const cors = this.policyFor(route);
    // Without CORS on the route, the preflight belongs to the upstream.
    if (cors === undefined) return CONTINUE;
    addVary(ctx, PREFLIGHT_VARY);

    if (!cors.anyOrigin && !cors.origins.matches(origin)) {
      return corsRejected('origin_not_allowed', true);
    }
    if (!cors.methods.has(method)) return corsRejected('method_not_allowed', true);
    const requested = headerValue(ctx.headers, 'access-control-request-headers');
    if (requested !== undefined && !headersAllowed(cors, requested)) {
      return corsRejected('header_not_allowed', true);
    }

    const headers: Record<string, string> = {
      ...cors.preflightHeaders,
      'access-control-allow-origin': allowOriginValue(cors, origin),
    };
    return { action: 'respond', status: 204, headers } satisfies Respond;
  }

  private policyFor(route: MatchedRoute | undefined): CompiledCors | undefined {
    if (route === undefined) return this.global;
    const own = this.byRoute.get(route.id);
    if (own === null) return undefined;
    return own ?? this.global;
  }
}

function compileCors(config: CorsConfig): CompiledCors {
  const anyOrigin = config.origins === '*';
  const allowHeaders = config.allowHeaders.includes('*')
    ? undefined
    : new Set(config.allowHeaders.map((name) => name.toLowerCase()));
  const preflightHeaders: Record<string, string> = {
    'access-control-allow-methods': config.methods.join(', '),
    'access-control-max-age': String(Math.floor(config.maxAge / 1000)),
  };
  if (config.allowHeaders.length > 0)
    preflightHeaders['access-control-allow-headers'] = config.allowHeaders.join(', ');
  if (config.credentials) preflightHeaders['access-control-allow-credentials'] = 'true';
  return {
    anyOrigin,
    origins: new OriginMatcher(anyOrigin ? [] : (config.origins as readonly OriginPattern[])),
    credentials: config.credentials,
    rejectDisallowed: config.rejectDisallowed,
    methods: new Set(config.methods),
    allowHeaders,
    preflightHeaders: Object.freeze(preflightHeaders),
    exposeHeaders: config.exposeHeaders.length > 0 ? config.exposeHeaders.join(', ') : undefined,
  };
}

function addVary(ctx: RequestContext, names: string): void {
  const current = ctx.responseHeaders.vary;
  ctx.responseHeaders.vary = current === undefined ? names : `${current}, ${names}`;
}

// The schema rejects `*` with credentials, so `*` is sent only where no cookie is shared.
function allowOriginValue(cors: CompiledCors, origin: string): string {
  return cors.anyOrigin ? '*' : origin;
}

/** Checks each name of `Access-Control-Request-Headers` (a comma-separated list). */
function headersAllowed(cors: CompiledCors, requested: string): boolean {
  if (cors.allowHeaders === undefined) return true;
  for (const item of requested.split(',')) {
    const name = item.trim().toLowerCase();
    if (name !== '' && !cors.allowHeaders.has(name)) return false;
  }
  return true;
}

type CorsFailure = 'origin_not_allowed' | 'method_not_allowed' | 'header_not_allowed';

const FAILURE_DETAILS: Record<CorsFailure, string> = {
  origin_not_allowed: 'The Origin of this request is not allowed to call this API.',
  method_not_allowed: 'The method asked for in Access-Control-Request-Method is not allowed.',
  header_not_allowed: 'A header listed in Access-Control-Request-Headers is not allowed.',
};

// The 403 carries no CORS headers, so the browser hides even this body from the page.
function corsRejected(reason: CorsFailure, preflight: boolean): Reject {
  return {
    action: 'reject',
    status: 403,
    headers: {},
    problem: problem('cors-rejected', 403, 'Forbidden', 'BWK_ERR_CORS_REJECTED', {
      detail: FAILURE_DETAILS[reason],
      reason,
    }),
    event: {
      type: 'http.cors_rejected',
      category: 'violation',
      severity: 'low',
      details: { reason, preflight },
    },
  };
}
