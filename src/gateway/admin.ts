import type { IncomingMessage, ServerResponse } from 'node:http';

import type { CidrList } from '../core/ip.js';
import { parseIp } from '../core/ip.js';
import { problem } from '../core/problem.js';
import { sendProblem } from '../core/http-response.js';
import type { AuditIngestEndpoint } from '../audit/ingest-routes.js';
import type { AdminApi } from './admin-api.js';
import type { GatewayMetrics } from './metrics.js';

export interface AdminDeps {
  prefix: string;
  allow: CidrList;
  metrics: GatewayMetrics;
  health: () => Record<string, unknown>;
  /** The credential management API under `<prefix>/admin/`, which checks access itself. */
  api?: AdminApi;
  /** `POST <prefix>/audit/events` for application audit events, which checks access itself. */
  auditIngest?: AuditIngestEndpoint;
}

/**
 * Serves `<prefix>/health` and `<prefix>/metrics` to allowed client addresses. Returns false
 * when the path is not an admin path, so the request goes through the guards instead.
 * `clientIp` is the address after trusted-proxy resolution: behind a reverse proxy on the
 * same host every TCP peer is loopback, so checking the peer would open admin to everyone.
 */
export function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  clientIp: string,
  requestId: string,
  deps: AdminDeps,
): boolean {
  if (path !== deps.prefix && !path.startsWith(`${deps.prefix}/`)) return false;
  // Dispatched before the address check here, so that the admin API records every attempt,
  // refused addresses included, as an event.
  if (deps.api?.matches(path)) {
    deps.api.handle(req, res, path, clientIp, requestId);
    return true;
  }
  if (deps.auditIngest?.matches(path)) {
    deps.auditIngest.handle(req, res, path, clientIp, requestId);
    return true;
  }

  const client = parseIp(clientIp);
  if (!client || !deps.allow.contains(client)) {
    sendProblem(
      res,
      problem('admin-forbidden', 403, 'Forbidden', 'BWK_ERR_ADMIN_FORBIDDEN', {
        detail: 'The admin endpoints answer only addresses listed in admin.allow.',
      }),
      {},
      requestId,
    );
    return true;
  }

  const action = path.slice(deps.prefix.length);
  if (action === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    const body = JSON.stringify({ status: 'ok', ...deps.health() });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
  if (action === '/metrics' && req.method === 'GET') {
    deps.metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
        res.end(text);
      },
      (error: unknown) => {
        sendProblem(
          res,
          problem('metrics-failed', 500, 'Metrics collection failed', 'BWK_ERR_METRICS', {
            detail: (error as Error).message,
          }),
          {},
          requestId,
        );
      },
    );
    return true;
  }
  sendProblem(
    res,
    problem('not-found', 404, 'Not Found', 'BWK_ERR_ADMIN_NOT_FOUND', {
      detail: `No admin endpoint ${req.method} ${action}; available: GET ${deps.prefix}/health, GET ${deps.prefix}/metrics, and the admin API under ${deps.prefix}/admin/.`,
    }),
    {},
    requestId,
  );
  return true;
}
