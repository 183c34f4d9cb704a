import type { IncomingMessage } from 'node:http';

import { createContext, headerValue, type MatchedRoute, type RequestContext } from './context.js';
import { newId } from './ids.js';
import {
  CidrList,
  normalizePeerIp,
  resolveCdnClientIp,
  resolveClientIp,
  type CdnClientHeader,
} from './ip.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export interface NodeContextOptions {
  trustProxy: CidrList;
  /** A CDN whose client header is believed from its edge addresses. */
  cdn?: CdnClientHeader;
  route?: MatchedRoute;
  /** Replaces `req.url`, e.g. with Express's `originalUrl` under a mount path. */
  url?: string;
}

/** Builds the request context from a node:http request (also Express's, which extends it). */
export function contextFromNodeRequest(
  req: IncomingMessage,
  options: NodeContextOptions,
): RequestContext {
  const id = newId();
  const remoteAddress = req.socket.remoteAddress ?? '';
  const peer = normalizePeerIp(remoteAddress);
  // Without trusted proxies the peer is the client, so X-Forwarded-For is not even parsed.
  const forwarded = options.trustProxy.isEmpty
    ? peer
    : resolveClientIp(remoteAddress, req.headers['x-forwarded-for'], options.trustProxy);
  const cdn = options.cdn;
  return createContext({
    id,
    correlationId: correlationIdOf(req, id),
    method: req.method ?? 'GET',
    url: options.url ?? req.url ?? '/',
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    ip: cdn === undefined ? forwarded : resolveCdnClientIp(forwarded, req.headers[cdn.header], cdn),
    remoteAddress: peer,
    receivedAt: Date.now(),
    route: options.route,
  });
}

/**
 * Takes the W3C trace id from `traceparent`, else a well-formed `X-Request-Id`, else the
 * generated request id. Malformed values are ignored, because they end up in logs.
 */
export function correlationIdOf(req: IncomingMessage, fallback: string): string {
  const traceparent = headerValue(req.headers, 'traceparent');
  const trace = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (trace) return trace[1]!;
  const requestId = headerValue(req.headers, 'x-request-id');
  if (requestId && SAFE_REQUEST_ID.test(requestId)) return requestId;
  return fallback;
}
