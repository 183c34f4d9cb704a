import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { GENERATED_RESPONSE_HEADERS } from '../core/http-response.js';
import { parseIp, type CidrList } from '../core/ip.js';
import type { RouteSecurityHeadersConfig, SecurityHeadersConfig } from './hardening-config.js';

/**
 * Security response headers: HSTS, `X-Content-Type-Options`, `X-Frame-Options`,
 * `Referrer-Policy`, an optional CSP and custom headers, per route with global defaults.
 *
 * The guard never rejects. It only points the request at a precompiled set of headers, so it
 * runs first and the rejections of every later guard carry the headers too. By default the
 * set is a default (`ctx.responseDefaults`): a header the upstream or the application sets
 * keeps its value. With `override: true` the set replaces the upstream's values.
 *
 * HSTS is sent only on requests that arrived over HTTPS, because RFC 6797 section 7.2 forbids
 * it over plain HTTP. The gateway itself listens on HTTP, so it counts a request as HTTPS when
 * the TCP peer is in `trustProxy` and every `X-Forwarded-Proto` value is `https`. Behind a TLS
 * terminator that does not send `X-Forwarded-Proto`, set `onlyOverHttps: false`.
 * NOTE: the RFC 7239 `Forwarded: proto=https` form is not read.
 */

interface CompiledHeaders {
  readonly override: boolean;
  /** The headers of a request that did not arrive over HTTPS. */
  readonly plain: Readonly<Record<string, string>>;
  /** The headers of an HTTPS request: `plain` with HSTS when configured. */
  readonly secure: Readonly<Record<string, string>>;
}

export interface SecurityHeadersOptions {
  global: SecurityHeadersConfig;
  routes: ReadonlyArray<{ id: string; securityHeaders: RouteSecurityHeadersConfig | undefined }>;
  trustProxy: CidrList;
}

/** Peers whose trust has been decided; a handful of proxies in practice, so it rarely fills. */
const MAX_CACHED_PEERS = 1024;

export class SecurityHeadersGuard implements Guard {
  readonly name = 'security-headers';
  private readonly global: CompiledHeaders | undefined;
  /** Per route id: its compiled headers, or null where the route sends none. */
  private readonly byRoute = new Map<string, CompiledHeaders | null>();
  private readonly trustProxy: CidrList;
  /** Whether each peer address is in `trustProxy`; parsing an address costs microseconds. */
  private readonly trustedPeers = new Map<string, boolean>();

  constructor(options: SecurityHeadersOptions) {
    this.trustProxy = options.trustProxy;
    this.global = compileHeaders(options.global);
    for (const route of options.routes) {
      const own = route.securityHeaders;
      if (own === undefined) continue;
      const merged = own === false ? undefined : compileHeaders({ ...options.global, ...own });
      this.byRoute.set(route.id, merged ?? null);
    }
  }

  check(ctx: RequestContext): Verdict {
    const compiled = this.policyFor(ctx);
    if (compiled === undefined) return CONTINUE;
    const headers =
      compiled.secure !== compiled.plain && this.arrivedOverHttps(ctx)
        ? compiled.secure
        : compiled.plain;
    if (compiled.override) Object.assign(ctx.responseHeaders, headers);
    else ctx.responseDefaults = headers;
    return CONTINUE;
  }

  /**
   * Returns the headers of a response Bulwark writes itself outside the guards (admin API,
   * OAuth endpoints): the global set, with the strict policy for generated bodies on top.
   */
  generatedHeaders(ctx: RequestContext): Record<string, string> {
    const global = this.global;
    const headers = global && (this.arrivedOverHttps(ctx) ? global.secure : global.plain);
    return { ...headers, ...GENERATED_RESPONSE_HEADERS };
  }

  private policyFor(ctx: RequestContext): CompiledHeaders | undefined {
    if (ctx.route === undefined) return this.global;
    const own = this.byRoute.get(ctx.route.id);
    if (own === null) return undefined;
    return own ?? this.global;
  }

  private arrivedOverHttps(ctx: RequestContext): boolean {
    const proto = ctx.headers['x-forwarded-proto'];
    if (proto === undefined || this.trustProxy.isEmpty) return false;
    if (!this.isTrustedPeer(ctx.remoteAddress)) return false;
    if (proto === 'https') return true;
    // Every hop must report https, because a proxy that appends `http` saw a plain-HTTP client.
    const values = (Array.isArray(proto) ? proto.join(',') : proto).split(',');
    return values.every((value) => value.trim().toLowerCase() === 'https');
  }

  private isTrustedPeer(address: string): boolean {
    let trusted = this.trustedPeers.get(address);
    if (trusted === undefined) {
      if (this.trustedPeers.size >= MAX_CACHED_PEERS) this.trustedPeers.clear();
      const peer = parseIp(address);
      trusted = peer !== undefined && this.trustProxy.contains(peer);
      this.trustedPeers.set(address, trusted);
    }
    return trusted;
  }
}

function compileHeaders(config: SecurityHeadersConfig): CompiledHeaders | undefined {
  if (!config.enabled) return undefined;
  const plain: Record<string, string> = {};
  if (config.contentTypeOptions) plain['x-content-type-options'] = 'nosniff';
  if (config.frameOptions !== false) plain['x-frame-options'] = config.frameOptions;
  if (config.referrerPolicy !== false) plain['referrer-policy'] = config.referrerPolicy;
  if (config.contentSecurityPolicy !== false)
    plain['content-security-policy'] = config.contentSecurityPolicy;
  for (const [name, value] of Object.entries(config.custom)) plain[name.toLowerCase()] = value;

  const hsts = config.strictTransportSecurity;
  if (hsts === false) {
    Object.freeze(plain);
    return { override: config.override, plain, secure: plain };
  }
  const secure = Object.freeze({ ...plain, 'strict-transport-security': hstsValue(hsts) });
  return {
    override: config.override,
    plain: hsts.onlyOverHttps ? Object.freeze(plain) : secure,
    secure,
  };
}

function hstsValue(hsts: Exclude<SecurityHeadersConfig['strictTransportSecurity'], false>): string {
  let value = `max-age=${Math.floor(hsts.maxAge / 1000)}`;
  if (hsts.includeSubDomains) value += '; includeSubDomains';
  if (hsts.preload) value += '; preload';
  return value;
}
