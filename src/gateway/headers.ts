import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and must not be
 * forwarded. `expect` is answered by this server, and undici refuses to send it.
 */
const HOP_BY_HOP = new Set([
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
const GATEWAY_OWNED = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
]);

export interface ForwardingInfo {
  /** The TCP peer, normalised. */
  peer: string;
  /** Whether the peer is a trusted proxy whose forwarding headers are kept. */
  peerTrusted: boolean;
  proto: 'http' | 'https';
  requestId: string;
}

/** Builds the headers sent upstream from the client's, removing hop-by-hop fields. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  info: ForwardingInfo,
): Record<string, string | string[]> {
  const drop = connectionListed(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name) || drop?.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }

  // A trusted proxy's forwarding chain is extended; an untrusted client's is replaced, so
  // the upstream never sees addresses the client made up.
  const priorFor = info.peerTrusted ? joined(incoming['x-forwarded-for']) : undefined;
  out['x-forwarded-for'] = priorFor ? `${priorFor}, ${info.peer}` : info.peer;
  out['x-forwarded-proto'] =
    (info.peerTrusted && joined(incoming['x-forwarded-proto'])) || info.proto;
  const host = (info.peerTrusted && joined(incoming['x-forwarded-host'])) || incoming.host;
  if (host) out['x-forwarded-host'] = host;
  out['x-request-id'] = info.requestId;
  return out;
}

/** Copies the upstream response headers without hop-by-hop fields, then adds the gateway's. */
export function clientResponseHeaders(
  upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  added: Record<string, string>,
): OutgoingHttpHeaders {
  const drop = connectionListed(upstream.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || drop?.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  for (const name in added) out[name] = added[name];
  return out;
}

function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((token) => token.trim().toLowerCase()));
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
