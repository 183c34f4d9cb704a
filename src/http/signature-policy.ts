import type { PolicyConfig } from '../core/config.js';
import type { DigestAlgorithm } from './content-digest.js';
import type { SignaturesConfig } from './signatures-config.js';

/** Signature requirements of one route, compiled once at start. */
export interface SignaturePolicy {
  required: boolean;
  /** Components every signature must cover; `content-digest` is added when there is a body. */
  components: readonly string[];
  /** Key ids accepted; every configured key when undefined. */
  keys: ReadonlySet<string> | undefined;
  /** The `tag` parameter every signature must carry, if any. */
  tag: string | undefined;
}

/** The signature policies of all routes, and of requests that match none. */
export interface SignaturePolicies {
  fallback: SignaturePolicy;
  /** By route id (`POST /orders`); routes without `signatures` use `fallback` settings. */
  byRoute: ReadonlyMap<string, SignaturePolicy>;
  /** Whether any policy requires a signature; the guard is left out otherwise. */
  anyRequired: boolean;
  clockSkewMs: number;
  maxAgeMs: number;
  digestAlgorithms: readonly DigestAlgorithm[];
  origin: { scheme: string; authority: string } | undefined;
}

/**
 * Compiles the global `signatures` settings and each route's `signatures` into one policy
 * per route. A route's `required` and `tag` replace the global ones and its components are
 * added to the global ones, so no route covers less than the global minimum.
 */
export function compileSignaturePolicies(config: PolicyConfig): SignaturePolicies {
  const settings: SignaturesConfig = config.signatures;
  const fallback: SignaturePolicy = {
    required: settings.required,
    components: [...settings.components],
    keys: undefined,
    tag: settings.tag,
  };
  const byRoute = new Map<string, SignaturePolicy>();
  for (const route of config.routes) {
    const own = route.signatures;
    if (own === undefined) continue;
    byRoute.set(route.match.text, {
      required: own.required ?? settings.required,
      components: [...new Set([...settings.components, ...(own.components ?? [])])],
      keys: own.keys && new Set(own.keys),
      tag: own.tag ?? settings.tag,
    });
  }
  const policies = [fallback, ...byRoute.values()];
  return {
    fallback,
    byRoute,
    anyRequired: policies.some((policy) => policy.required),
    clockSkewMs: settings.clockSkew,
    maxAgeMs: settings.maxAge,
    digestAlgorithms: settings.digestAlgorithms,
    origin: settings.origin === undefined ? undefined : originParts(settings.origin),
  };
}

/**
 * Tells whether requests on a route may need their body for a Content-Digest check, so
 * that the body is read before the guards run.
 */
export function signaturesNeedBody(
  policies: SignaturePolicies,
  routeId: string | undefined,
): boolean {
  const policy = (routeId !== undefined && policies.byRoute.get(routeId)) || policies.fallback;
  return policy.required;
}

function originParts(origin: string): { scheme: string; authority: string } {
  const url = new URL(origin);
  // URL.host already drops the scheme's default port and lower-cases the name.
  return { scheme: url.protocol.slice(0, -1), authority: url.host };
}
