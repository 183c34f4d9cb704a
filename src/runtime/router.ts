import FindMyWay, { type HTTPMethod } from 'find-my-way';

import type { MatchedRoute } from '../core/context.js';

interface RouteEntry<P> {
  methods: readonly string[];
  path: string;
  id: string;
  policy: P;
}

/**
 * Matches method and path once per request with a radix tree, returning the route and the
 * policy compiled for it.
 *
 * Matching uses a canonical spelling of the path: case folded, duplicate and trailing
 * slashes removed, dot segments resolved and `;` parameters dropped. Many upstream
 * frameworks serve `/LOGIN/`, `//login` or `/x/../login` as `/login`, so such a spelling
 * must not bypass a route's policy. The request is forwarded with its path unchanged.
 */
export class RouteTable<P> {
  private readonly router = FindMyWay({
    ignoreTrailingSlash: true,
    ignoreDuplicateSlashes: true,
    caseSensitive: false,
    maxParamLength: 256,
  });

  constructor(routes: readonly RouteEntry<P>[]) {
    for (const route of routes) {
      const store = { id: route.id, policy: route.policy };
      this.router.on(route.methods as HTTPMethod[], route.path, noop, store);
    }
  }

  match(method: string, path: string): MatchedRoute<P> | undefined {
    const found = this.router.find(method as HTTPMethod, canonicalPath(path));
    if (!found) return undefined;
    const store = found.store as { id: string; policy: P };
    return { id: store.id, params: found.params, policy: store.policy };
  }
}

const NEEDS_CANONICAL = /\/\.|%2e|;/i;

/** Resolves dot segments (plain or percent-encoded) and drops `;` path parameters. */
export function canonicalPath(path: string): string {
  if (!NEEDS_CANONICAL.test(path)) return path;
  const withoutParams = path.replace(/;[^/]*/g, '');
  // The WHATWG URL parser resolves `.`, `..`, `%2e` and `%2e%2e` segments as browsers do.
  return new URL(withoutParams, 'http://canonical.invalid').pathname;
}

function noop(): void {}
