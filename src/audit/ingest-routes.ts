import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { GENERATED_RESPONSE_HEADERS, sendProblem } from '../core/http-response.js';
import { parseIp, type CidrList } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { problem, type Problem } from '../core/problem.js';
import type { EventBus } from '../events/bus.js';
import type { EventSeverity } from '../events/schema.js';
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

type BodyResult =
  { ok: true; value: unknown } | { ok: false; problem: Problem; reason: string; close: boolean };

/** The ingest endpoint. `handle` catches every failure and responds with 500 instead of throwing. */
export class AuditIngestEndpoint {
  readonly path: string;
  private readonly tokenDigest: Buffer | undefined;
  private readonly maxBodyBytes: number;

  constructor(private readonly options: AuditIngestOptions) {
    this.path = `${options.prefix}/audit/events`;
    this.tokenDigest = options.token === undefined ? undefined : sha256(options.token);
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_INGEST_BODY_BYTES;
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

    const body = await this.readBody(req);
    if (!body.ok)
      return reject(body.problem, body.reason, body.close ? { connection: 'close' } : {});
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
    if (this.tokenDigest === undefined) {
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

    const presented = bearerToken(req.headers.authorization);
    if (presented === undefined) {
      return {
        reason: 'missing_token',
        headers: { 'www-authenticate': REALM },
        problem: unauthorized('The audit ingest endpoint requires Authorization: Bearer <token>.'),
      };
    }
    // Comparing digests keeps the comparison constant-time whatever the presented length.
    if (!timingSafeEqual(sha256(presented), this.tokenDigest)) {
      return {
        reason: 'invalid_token',
        headers: { 'www-authenticate': `${REALM}, error="invalid_token"` },
        problem: unauthorized('The audit ingest token is not valid.'),
      };
    }
    return undefined;
  }

  /** Reads a JSON body of at most `maxBodyBytes`; a larger one is not read to its end. */
  private readBody(req: IncomingMessage): Promise<BodyResult> {
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json')
      return Promise.resolve({
        ok: false,
        close: true,
        reason: 'unsupported_media_type',
        problem: problem(
          'audit-ingest-media-type',
          415,
          'Unsupported Media Type',
          'BWK_ERR_AUDIT_INGEST_MEDIA_TYPE',
          { detail: 'Send the events as JSON with Content-Type: application/json.' },
        ),
      });
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > this.maxBodyBytes)
      return Promise.resolve(this.tooLarge());

    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (result: BodyResult): void => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxBodyBytes) {
          req.pause();
          settle(this.tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => settle(parseJson(Buffer.concat(chunks))));
      req.on('error', () => settle(cutOff()));
      req.on('close', () => settle(cutOff()));
    });
  }

  private tooLarge(): BodyResult {
    return {
      ok: false,
      close: true,
      reason: 'body_too_large',
      problem: problem(
        'audit-ingest-too-large',
        413,
        'Content Too Large',
        'BWK_ERR_AUDIT_INGEST_TOO_LARGE',
        {
          detail: `The request body is larger than ${this.maxBodyBytes} bytes; send fewer events per request.`,
        },
      ),
    };
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

function parseJson(bytes: Buffer): BodyResult {
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return {
      ok: false,
      close: false,
      reason: 'invalid_json',
      problem: invalidEvents([{ field: '(body)', message: 'is not valid JSON' }]),
    };
  }
}

function cutOff(): BodyResult {
  return {
    ok: false,
    close: true,
    reason: 'aborted',
    problem: invalidEvents([{ field: '(body)', message: 'the request body was cut off' }]),
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

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // Any other value counts as a wrong token, so a mistyped scheme is reported as invalid.
  return BEARER.exec(header)?.[1] ?? header;
}
