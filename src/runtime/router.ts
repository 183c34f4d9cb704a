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
 */
export class RouteTable<P> {
  private readonly router = FindMyWay({
    ignoreTrailingSlash: false,
    caseSensitive: true,
    maxParamLength: 256,
  });

  constructor(routes: readonly RouteEntry<P>[]) {
    for (const route of routes) {
      const store = { id: route.id, policy: route.policy };
      this.router.on(route.methods as HTTPMethod[], route.path, noop, store);
    }
  }

  match(method: string, path: string): MatchedRoute<P> | undefined {
    const found = this.router.find(method as HTTPMethod, path);
    if (!found) return undefined;
    const store = found.store as { id: string; policy: P };
    return { id: store.id, params: found.params, policy: store.policy };
  }
}

function noop(): void {}
