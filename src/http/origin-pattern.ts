/**
 * CORS origins as configured: exact origins and patterns, parsed once at start and matched
 * without building a regular expression from configuration, so an entry can never smuggle in
 * regex syntax.
 *
 * Syntax: `scheme://host[:port]`, lower case, no path and no trailing slash, as browsers
 * serialize the `Origin` header. Two wildcards are allowed:
 * - `*.` as the whole leftmost host label: `https://*.example.com` matches
 *   `https://api.example.com` and `https://a.b.example.com`, never `https://example.com` or
 *   another scheme or port. The part after `*.` needs at least two labels.
 * - `:*` as the port: `http://localhost:*` matches `http://localhost:3000` and
 *   `http://localhost`.
 */

/** A parsed origin entry. `host` is the suffix after `*.` when `anySubdomain` is set. */
export interface OriginPattern {
  readonly text: string;
  readonly scheme: string;
  readonly host: string;
  readonly anySubdomain: boolean;
  /** The port as written, '' for none, or undefined for `:*`. */
  readonly port: string | undefined;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };
const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV6_HOST = /^\[[0-9a-f:.]+\]$/;
const PORT = /^[0-9]{1,5}$/;
const MAX_DECIDED_ORIGINS = 1024;
/** The shape of an `Origin` header browsers send: scheme, host and an optional port. */
const REQUEST_ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/([^/:?#@\s]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$/;

/** Parses one configured entry. Throws an Error whose message names the problem and the fix. */
export function parseOriginPattern(text: string): OriginPattern {
  if (text === 'null') {
    throw new Error(
      'the origin "null" is sent by sandboxed frames, file: pages and redirected requests, which any site can produce, so it cannot be allowed',
    );
  }
  if (text !== text.toLowerCase()) {
    throw new Error(`write "${text.toLowerCase()}": browsers send origins in lower case`);
  }
  const separator = text.indexOf('://');
  if (separator === -1)
    throw new Error('expected scheme://host[:port], e.g. https://app.example.com');
  const scheme = text.slice(0, separator);
  if (!SCHEME.test(scheme)) throw new Error(`invalid scheme "${scheme}"`);

  const rest = text.slice(separator + 3);
  if (/[/?#@\s]/.test(rest)) {
    throw new Error(
      'an origin has no path, query, user or trailing slash: write scheme://host[:port]',
    );
  }
  const { host, port } = splitPort(rest);
  if (port !== undefined && port !== '' && DEFAULT_PORTS[scheme] === port) {
    throw new Error(`browsers omit the default port ${port}: write ${scheme}://${host}`);
  }

  const anySubdomain = host.startsWith('*.');
  const name = anySubdomain ? host.slice(2) : host;
  checkHost(name, anySubdomain);
  return { text, scheme, host: name, anySubdomain, port };
}

function splitPort(rest: string): { host: string; port: string | undefined } {
  const colon = rest.lastIndexOf(':');
  // A colon inside an IPv6 literal is not a port separator.
  if (colon === -1 || rest.lastIndexOf(']') > colon) return { host: rest, port: '' };
  const port = rest.slice(colon + 1);
  if (port === '*') return { host: rest.slice(0, colon), port: undefined };
  if (!PORT.test(port) || Number(port) > 65535) throw new Error(`invalid port "${port}"`);
  return { host: rest.slice(0, colon), port };
}

function checkHost(host: string, anySubdomain: boolean): void {
  if (host.includes('*')) {
    throw new Error(
      '"*" is allowed only as the whole leftmost label (https://*.example.com) or as the port (:*)',
    );
  }
  if (IPV6_HOST.test(host)) {
    if (anySubdomain) throw new Error('an IP address has no subdomains');
    return;
  }
  const labels = host.split('.');
  if (!labels.every((label) => LABEL.test(label))) throw new Error(`invalid host "${host}"`);
  if (anySubdomain && labels.length < 2) {
    throw new Error(
      `"*.${host}" would allow every site under a top-level domain; name the domain, e.g. *.example.com`,
    );
  }
}

/**
 * The allowed origins, compiled: a set for exact entries and a list of patterns. An
 * `Origin` value that is not a well-formed `scheme://host[:port]` never matches.
 */
export class OriginMatcher {
  private readonly exact = new Set<string>();
  private readonly patterns: OriginPattern[] = [];
  /**
   * Pattern results per origin. Browsers send a few distinct origins, so it rarely fills;
   * a client sending random ones only costs the pattern check each time.
   */
  private readonly decided = new Map<string, boolean>();

  constructor(entries: readonly OriginPattern[]) {
    for (const entry of entries) {
      if (!entry.anySubdomain && entry.port !== undefined) this.exact.add(entry.text);
      else this.patterns.push(entry);
    }
  }

  matches(origin: string): boolean {
    if (this.exact.has(origin)) return true;
    if (this.patterns.length === 0) return false;
    let allowed = this.decided.get(origin);
    if (allowed === undefined) {
      if (this.decided.size >= MAX_DECIDED_ORIGINS) this.decided.clear();
      allowed = this.matchesPattern(origin);
      this.decided.set(origin, allowed);
    }
    return allowed;
  }

  private matchesPattern(origin: string): boolean {
    const parsed = REQUEST_ORIGIN.exec(origin);
    if (parsed === null) return false;
    const [, scheme, host, port = ''] = parsed;
    return this.patterns.some((pattern) => patternMatches(pattern, scheme!, host!, port));
  }
}

function patternMatches(
  pattern: OriginPattern,
  scheme: string,
  host: string,
  port: string,
): boolean {
  if (pattern.scheme !== scheme) return false;
  if (pattern.port !== undefined && pattern.port !== port) return false;
  if (!pattern.anySubdomain) return host === pattern.host;
  if (!host.endsWith(`.${pattern.host}`)) return false;
  // Every label before the suffix must be a DNS label, so a host with other characters
  // never passes as a subdomain.
  const prefix = host.slice(0, host.length - pattern.host.length - 1);
  return prefix.split('.').every((label) => LABEL.test(label));
}
