import type { IncomingHttpHeaders, OutgoingHttpHeader } from 'node:http';

import type { Principal } from '../core/context.js';

/**
 * Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and must not be
 * forwarded. Node's server handles `expect` itself, and undici refuses to send it.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** Headers a client may not set because the gateway computes them. */
const GATEWAY_OWNED = ['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

/** Request headers that stop at the gateway, in one set so that each costs one lookup. */
const NOT_FORWARDED_UPSTREAM = new Set([...HOP_BY_HOP, ...GATEWAY_OWNED, 'x-request-id']);

/** Header names that carry the verified identity upstream, as configured. */
export interface IdentityHeaderNames {
  subject: string;
  scopes: string;
  type: string;
}

/** The identity headers in lower case, with the set of headers they add to the stop list. */
export interface UpstreamIdentity {
  readonly names: IdentityHeaderNames;
  /** The header that carries the resolved API version, in lower case, with versioning. */
  readonly versionHeader?: string;
  readonly notForwarded: ReadonlySet<string>;
}

/**
 * Compiles the identity header names once. Client-sent copies of these headers are always
 * removed, on anonymous routes too, because the upstream trusts them as the gateway's word.
 * `credentialHeaders` (the API key header) are removed too: the gateway verified the key,
 * and the upstream has no reason to hold the secret. Client copies of `versionHeader` are
 * removed for the same reason as the identity headers.
 */
export function upstreamIdentity(
  names: IdentityHeaderNames,
  credentialHeaders: readonly string[] = [],
  versionHeader?: string,
): UpstreamIdentity {
  const lower = {
    subject: names.subject.toLowerCase(),
    scopes: names.scopes.toLowerCase(),
    type: names.type.toLowerCase(),
  };
  const version = versionHeader?.toLowerCase();
  return {
    names: lower,
    versionHeader: version,
    notForwarded: new Set([
      ...(version === undefined ? [] : [version]),
      ...NOT_FORWARDED_UPSTREAM,
      lower.subject,
      lower.scopes,
      lower.type,
      ...credentialHeaders.map((name) => name.toLowerCase()),
    ]),
  };
}

export interface ForwardingInfo {
  /** The TCP peer, normalised. */
  peer: string;
  /** Whether the peer is a trusted proxy whose forwarding headers are kept. */
  peerTrusted: boolean;
  proto: 'http' | 'https';
  requestId: string;
  /** Identity headers to strip, and to set from `principal` when there is one. */
  identity?: UpstreamIdentity;
  principal?: Principal;
  /** The resolved API version, sent in `identity.versionHeader`. */
  version?: string;
  /** The request target to send in place of the client's, when a guard rewrote it. */
  url?: string;
  /** Response headers added only where the upstream did not set them. */
  responseDefaults?: Readonly<Record<string, string>>;
  /** Upstream response headers to drop, such as its CORS headers on a CORS route. */
  droppedResponseHeaders?: ReadonlySet<string>;
  /**
   * A guard rewrote the body, so the client's digests of it no longer match and are not
   * forwarded.
   */
  bodyRewritten?: boolean;
}

/**
 * Builds the headers sent upstream from the client's, removing hop-by-hop fields. The result
 * is a flat list of names and values, which undici reads without enumerating object keys.
 */
/** Digest fields of the body (RFC 9530), which a rewritten body no longer matches. */
const BODY_DIGESTS: ReadonlySet<string> = new Set(['content-digest', 'repr-digest', 'digest']);

export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  info: ForwardingInfo,
): string[] {
  const drop = connectionListed(incoming.connection);
  const stop = info.identity?.notForwarded ?? NOT_FORWARDED_UPSTREAM;
  const out: string[] = [];
  // An API key sent as a bearer token is a secret the upstream does not need.
  const dropAuthorization = info.principal?.type === 'api_key';
  for (const name in incoming) {
    if (stop.has(name) || drop?.has(name)) continue;
    if (dropAuthorization && name === 'authorization') continue;
    if (info.bodyRewritten && BODY_DIGESTS.has(name)) continue;
    const value = incoming[name];
    if (typeof value === 'string') out.push(name, value);
    else if (value !== undefined) for (const item of value) out.push(name, item);
  }

  // A trusted proxy's forwarding chain is extended; an untrusted client's is replaced, so
  // the upstream never receives addresses the client made up.
  const priorFor = info.peerTrusted ? joined(incoming['x-forwarded-for']) : undefined;
  out.push('x-forwarded-for', priorFor ? `${priorFor}, ${info.peer}` : info.peer);
  out.push(
    'x-forwarded-proto',
    (info.peerTrusted && joined(incoming['x-forwarded-proto'])) || info.proto,
  );
  const host = (info.peerTrusted && joined(incoming['x-forwarded-host'])) || incoming.host;
  if (host) out.push('x-forwarded-host', host);
  out.push('x-request-id', info.requestId);
  if (info.identity && info.principal) pushIdentity(out, info.identity.names, info.principal);
  // Version names are validated as letters, digits, dots, dashes and underscores.
  if (info.identity?.versionHeader && info.version !== undefined)
    out.push(info.identity.versionHeader, info.version);
  return out;
}

function pushIdentity(out: string[], names: IdentityHeaderNames, principal: Principal): void {
  out.push(names.subject, headerSafe(principal.id));
  out.push(names.type, principal.type);
  if (principal.scopes) out.push(names.scopes, headerSafe(principal.scopes.join(' ')));
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Claims may hold any Unicode, and undici rejects header values with control characters, so
 * a value outside printable ASCII is sent percent-encoded.
 * NOTE: a value that is printable ASCII and contains `%` is sent as is, so the upstream cannot
 * tell it from an encoded one.
 */
function headerSafe(value: string): string {
  return PRINTABLE_ASCII.test(value) ? value : encodeURIComponent(value);
}

/**
 * Copies the upstream response headers without hop-by-hop fields and those in `dropped`,
 * adds each of `defaults` that the upstream did not set, then adds the gateway's and the
 * request id, which replace upstream headers of the same name. The result is a flat list of
 * names and values for `writeHead`, which Node validates and writes in order.
 */
export function clientResponseHeaders(
  upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  added: Record<string, string>,
  requestId: string,
  defaults?: Readonly<Record<string, string>>,
  dropped?: ReadonlySet<string>,
): OutgoingHttpHeader[] {
  const drop = connectionListed(upstream.connection);
  const out: OutgoingHttpHeader[] = [];
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || drop?.has(name) || replaced(name, added)) continue;
    if (dropped?.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) out.push(name, value);
  }
  if (defaults !== undefined) {
    for (const name in defaults) {
      if (upstream[name] === undefined && !Object.hasOwn(added, name))
        out.push(name, defaults[name]!);
    }
  }
  for (const name in added) out.push(name, added[name]!);
  out.push('x-request-id', requestId);
  return out;
}

/**
 * Returns the extra header names a Connection field lists, or undefined when it lists none
 * beyond the hop-by-hop ones. Most upstreams send `keep-alive`, which takes the fast path.
 */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text === 'keep-alive' || text === 'close') return undefined;
  return new Set(text.split(',').map((token) => token.trim().toLowerCase()));
}

// `Link` and `Vary` are lists, so the upstream's entries are kept beside the gateway's (a
// deprecation notice, `Vary: Origin` on a CORS route) rather than replaced.
function replaced(name: string, added: Record<string, string>): boolean {
  return (
    name === 'x-request-id' || (name !== 'link' && name !== 'vary' && Object.hasOwn(added, name))
  );
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
