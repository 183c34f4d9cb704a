import type { IncomingMessage, ServerResponse } from 'node:http';

import { GENERATED_RESPONSE_HEADERS, sendProblem } from '../core/http-response.js';
import { parseIp, type CidrList } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { problem, type Problem } from '../core/problem.js';
import type { EventBus } from '../events/bus.js';
import type { EventSeverity } from '../events/schema.js';
import { hasBody, readJsonBody, type JsonBodyOptions } from '../gateway/admin-body.js';
import { BearerTokenVerifier } from '../gateway/bearer.js';
import { parseIngestBody, publishIngestedEvent, type IngestIssue } from './ingest.js';

/**
 * `POST <admin prefix>/audit/events`: the HTTP endpoint through which applications send
 * their own audit events. It has its own bearer token, from `BULWARK_AUDIT_INGEST_TOKEN`,
 * so that an application can record events without holding the admin token. The caller's
 * address must also be in `admin.allow`. Without the token the endpoint is off and returns
 * 404. Rejected attempts publish `admin.action` with the action `audit.ingest`.
 */

/** Environment variable that contains the ingest token. */
export const INGEST_TOKEN_ENV = 'BULWARK_AUDIT_INGEST_TOKEN';
/** Shortest ingest token accepted, as for the admin token. */
export const MIN_INGEST_TOKEN_LENGTH = 32;
/** Largest request body: 100 events of about 2 KiB each, with room to spare. */
export const MAX_INGEST_BODY_BYTES = 256 * 1024;

const REALM = 'Bearer realm="bulwark-audit-ingest"';
const ACTION = 'audit.ingest';
const MAX_EVENT_TEXT = 256;

export interface AuditIngestOptions {
  /** `admin.prefix`; the endpoint is `<prefix>/audit/events`. */
  prefix: string;
  allow: CidrList;
  /** The ingest token; without one the endpoint is off. */
  token: string | undefined;
  bus: EventBus;
  logger: Logger;
  maxBodyBytes?: number;
}

/**
 * Reads the ingest token from the environment. Returns undefined, which keeps the endpoint
 * off, when the variable is unset or shorter than `MIN_INGEST_TOKEN_LENGTH`.
 */
export function readIngestToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env[INGEST_TOKEN_ENV];
  return token !== undefined && token.length >= MIN_INGEST_TOKEN_LENGTH ? token : undefined;
}

/** The ingest endpoint. `handle` catches every failure and responds with 500 instead of throwing. */
export class AuditIngestEndpoint {
  readonly path: string;
  private readonly bearer: BearerTokenVerifier | undefined;
  private readonly body: JsonBodyOptions;

  constructor(private readonly options: AuditIngestOptions) {
    this.path = `${options.prefix}/audit/events`;
    this.bearer =
      options.token === undefined
        ? undefined
        : new BearerTokenVerifier(options.token, {
            realm: REALM,
            missingDetail: 'The audit ingest endpoint requires Authorization: Bearer <token>.',
            invalidDetail: 'The audit ingest token is not valid.',
            unauthorized,
          });
    this.body = ingestBodyOptions(options.maxBodyBytes ?? MAX_INGEST_BODY_BYTES);
  }

  /** Returns whether a request path is the ingest endpoint. */
  matches(path: string): boolean {
    return path === this.path;
  }

  handle(
    req: IncomingMessage,
    res: ServerResponse,
    _path: string,
    clientIp: string,
    requestId: string,
  ): void {
    this.serve(req, res, clientIp, requestId).catch((error: unknown) => {
      this.options.logger.error({ err: error, requestId }, 'audit ingest request failed');
      const body = problem('internal', 500, 'Internal Server Error', 'BWK_ERR_INTERNAL', {
        detail: 'The request failed; the gateway log has the details under this request id.',
      });
      if (res.headersSent) res.destroy();
      else sendProblem(res, body, { connection: 'close' }, requestId);
    });
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    clientIp: string,
    requestId: string,
  ): Promise<void> {
    const reject = (body: Problem, reason: string, headers: Record<string, string> = {}): void => {
      const unread = hasBody(req) && !req.complete;
      sendProblem(res, body, unread ? { ...headers, connection: 'close' } : headers, requestId);
      this.publishRejection(req, clientIp, requestId, body.status, reason);
    };

    const denied = this.checkAccess(req, clientIp);
    if (denied !== undefined) return reject(denied.problem, denied.reason, denied.headers);
    if (req.method !== 'POST') {
      const detail = `${req.method} is not allowed here; use POST.`;
      return reject(
        problem('method-not-allowed', 405, 'Method Not Allowed', 'BWK_ERR_ADMIN_METHOD', {
          detail,
        }),
        'method_not_allowed',
        { allow: 'POST' },
      );
    }

    const body = await readJsonBody(req, this.body);
    if (!body.ok)
      return reject(body.problem, body.reason, body.closeConnection ? { connection: 'close' } : {});
    const parsed = parseIngestBody(body.value);
    if (!parsed.ok) return reject(invalidEvents(parsed.issues), 'invalid_event');

    const context = { via: 'http' as const, requestId, senderIp: clientIp };
    const ids = parsed.events.map(
      (event) => publishIngestedEvent(this.options.bus, event, context).id,
    );
    const payload = JSON.stringify({ accepted: ids.length, ids });
    res.writeHead(202, {
      ...GENERATED_RESPONSE_HEADERS,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      'cache-control': 'no-store',
    });
    res.end(payload);
    this.options.logger.info(
      { accepted: ids.length, ip: clientIp, requestId },
      'audit ingest accepted events',
    );
  }

  /**
   * Checks the address, that the endpoint is on, and the token, in that order, so that an
   * address outside `admin.allow` learns only 403.
   */
  private checkAccess(
    req: IncomingMessage,
    clientIp: string,
  ): { problem: Problem; reason: string; headers?: Record<string, string> } | undefined {
    const client = parseIp(clientIp);
    if (client === undefined || !this.options.allow.contains(client)) {
      return {
        reason: 'address_not_allowed',
        problem: problem('admin-forbidden', 403, 'Forbidden', 'BWK_ERR_ADMIN_FORBIDDEN', {
          detail: 'The admin endpoints answer only addresses listed in admin.allow.',
        }),
      };
    }
    if (this.bearer === undefined) {
      return {
        reason: 'ingest_disabled',
        problem: problem(
          'audit-ingest-disabled',
          404,
          'Not Found',
          'BWK_ERR_AUDIT_INGEST_DISABLED',
          {
            detail: `The audit ingest endpoint is off. To enable it, set ${INGEST_TOKEN_ENV} to a random token of at least ${MIN_INGEST_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32) and restart the gateway.`,
          },
        ),
      };
    }
    return this.bearer.verify(req.headers.authorization);
  }

  private publishRejection(
    req: IncomingMessage,
    clientIp: string,
    requestId: string,
    status: number,
    reason: string,
  ): void {
    const severity: EventSeverity = status === 401 || status === 403 ? 'medium' : 'low';
    const actor: { type: 'anonymous'; ip: string; userAgent?: string } = {
      type: 'anonymous',
      ip: clientIp,
    };
    const userAgent = req.headers['user-agent'];
    if (userAgent !== undefined) actor.userAgent = userAgent.slice(0, MAX_EVENT_TEXT);
    this.options.bus.publish({
      type: 'admin.action',
      category: 'admin',
      severity,
      outcome: 'failure',
      actor,
      target: { method: req.method, path: this.path, route: `POST ${this.path}` },
      correlationId: requestId,
      component: 'audit-ingest',
      details: { action: ACTION, status, reason },
    });
  }
}

const endpoints = new WeakMap<object, AuditIngestEndpoint>();

/**
 * Returns the ingest endpoint of `owner` (a gateway), creating it on first use, so that the
 * token is read once.
 */
export function auditIngestFor(
  owner: object,
  options: () => AuditIngestOptions,
): AuditIngestEndpoint {
  let endpoint = endpoints.get(owner);
  if (endpoint === undefined) {
    endpoint = new AuditIngestEndpoint(options());
    endpoints.set(owner, endpoint);
  }
  return endpoint;
}

/** Builds the 400 problem whose `errors` name each invalid field. */
function invalidEvents(issues: readonly IngestIssue[]): Problem {
  const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
  return problem('audit-event-invalid', 400, 'Bad Request', 'BWK_ERR_AUDIT_EVENT_INVALID', {
    detail: `Invalid audit event: ${summary}.`,
    errors: issues,
  });
}

/**
 * Builds the body limits of the endpoint. It accepts only `application/json` and sets no
 * `emptyBody`, so an empty body is rejected as invalid JSON.
 */
function ingestBodyOptions(maxBytes: number): JsonBodyOptions {
  return {
    maxBytes,
    acceptsMediaType: (header) =>
      header?.split(';')[0]?.trim().toLowerCase() === 'application/json',
    tooLarge: () =>
      problem(
        'audit-ingest-too-large',
        413,
        'Content Too Large',
        'BWK_ERR_AUDIT_INGEST_TOO_LARGE',
        {
          detail: `The request body is larger than ${maxBytes} bytes; send fewer events per request.`,
        },
      ),
    unsupportedMediaType: () =>
      problem(
        'audit-ingest-media-type',
        415,
        'Unsupported Media Type',
        'BWK_ERR_AUDIT_INGEST_MEDIA_TYPE',
        { detail: 'Send the events as JSON with Content-Type: application/json.' },
      ),
    invalidBody: (message) => invalidEvents([{ field: '(body)', message }]),
  };
}

function unauthorized(detail: string): Problem {
  return problem(
    'audit-ingest-unauthorized',
    401,
    'Unauthorized',
    'BWK_ERR_AUDIT_INGEST_UNAUTHORIZED',
    {
      detail,
    },
  );
}
