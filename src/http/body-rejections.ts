/**
 * The rejections of the request limits and body checks: typed errors for bodies that fail
 * while they are read, and the verdicts and events the guards and the gateway send for them.
 * Details name the limit and the byte position, never the content.
 */
import type { BodyLimits, BodyRate, RequestContext } from '../core/context.js';
import { BulwarkError } from '../core/errors.js';
import type { Reject } from '../core/guard.js';
import type { Logger } from '../core/logger.js';
import { problem } from '../core/problem.js';
import type { EventDraft } from '../events/schema.js';
import { formatSize } from './size.js';

/** The reason a body was cut off while it was read or streamed. */
export type BodyFailure = 'too_large' | 'too_slow' | 'incomplete';

/** A body that was cut off while it was read or streamed; `reject` is what the client gets. */
export class RequestBodyError extends BulwarkError {
  constructor(
    code: string,
    message: string,
    readonly failure: BodyFailure,
    readonly reject: Reject,
  ) {
    super(code, message);
  }
}

/** Creates the error for a body that passed `maxBytes`. */
export function bodyTooLarge(limits: BodyLimits): RequestBodyError {
  const max = limits.maxBytes;
  return new RequestBodyError(
    'BWK_ERR_BODY_TOO_LARGE',
    `request body is over ${formatSize(max)}`,
    'too_large',
    tooLarge('maxBodySize', max, `The request body is larger than ${formatSize(max)}.`),
  );
}

/** Creates the error for a body that arrived slower than the minimum rate. */
export function bodyTooSlow(rate: BodyRate, received: number): RequestBodyError {
  const detail = `The request body arrived slower than ${rate.bytesPerSecond} bytes per second over ${rate.windowMs / 1000} s.`;
  return new RequestBodyError('BWK_ERR_BODY_TIMEOUT', detail, 'too_slow', {
    action: 'reject',
    status: 408,
    headers: { connection: 'close' },
    problem: problem('body-timeout', 408, 'Request Timeout', 'BWK_ERR_BODY_TIMEOUT', {
      detail,
      minBytesPerSecond: rate.bytesPerSecond,
    }),
    event: {
      type: 'http.body_too_slow',
      category: 'violation',
      severity: 'medium',
      details: { bytesPerSecond: rate.bytesPerSecond, windowMs: rate.windowMs, received },
    },
    enforced: true,
  });
}

/** Creates the error for a client that closed the connection before the body ended. */
export function bodyIncomplete(received: number): RequestBodyError {
  const detail = 'The connection closed before the request body was complete.';
  return new RequestBodyError('BWK_ERR_BODY_INCOMPLETE', detail, 'incomplete', {
    action: 'reject',
    status: 400,
    headers: { connection: 'close' },
    problem: problem('body-incomplete', 400, 'Bad Request', 'BWK_ERR_BODY_INCOMPLETE', {
      detail,
    }),
    event: {
      type: 'http.body_incomplete',
      category: 'violation',
      severity: 'low',
      details: { received },
    },
    enforced: true,
  });
}

/** The names a size rejection may report, as written in configuration. */
export type LimitName =
  | 'maxUrlLength'
  | 'maxHeaderCount'
  | 'maxHeaderSize'
  | 'maxBodySize'
  | `json.${string}`
  | `form.${string}`;

/**
 * Rejects a request over a size limit: 414 for the URL, 431 for headers, else 413. A body
 * over `maxBodySize` is rejected in report-only mode too, because it is never read whole and
 * cannot be forwarded.
 */
export function tooLarge(limit: LimitName, max: number, detail: string): Reject {
  const details = { detail, limit, max };
  let status = 413;
  let body = problem(
    'body-limit-exceeded',
    413,
    'Content Too Large',
    'BWK_ERR_BODY_LIMIT_EXCEEDED',
    details,
  );
  if (limit === 'maxUrlLength') {
    status = 414;
    body = problem('url-too-long', 414, 'URI Too Long', 'BWK_ERR_URL_TOO_LONG', details);
  } else if (limit === 'maxHeaderCount' || limit === 'maxHeaderSize') {
    status = 431;
    body = problem(
      'headers-too-large',
      431,
      'Request Header Fields Too Large',
      'BWK_ERR_HEADERS_TOO_LARGE',
      details,
    );
  } else if (limit === 'maxBodySize') {
    body = problem('body-too-large', 413, 'Content Too Large', 'BWK_ERR_BODY_TOO_LARGE', details);
  }
  return {
    action: 'reject',
    status,
    // The rest of a body over its limit is never read, so the connection cannot carry
    // another request.
    headers: limit === 'maxBodySize' ? { connection: 'close' } : {},
    problem: body,
    event: {
      type: 'http.request_too_large',
      category: 'violation',
      severity: 'low',
      details: { limit, max },
    },
    enforced: limit === 'maxBodySize',
  };
}

/**
 * Rejects a body whose media type the route does not accept (415). `received` is the
 * client's type, already checked to be `type/subtype` tokens, and is shortened for display.
 */
export function unsupportedMediaType(
  method: string,
  received: string | undefined,
  allowed: readonly string[],
  reason?: string,
): Reject {
  const mediaType = received?.slice(0, 100);
  const detail =
    reason ??
    (mediaType === undefined
      ? `The request body has no valid Content-Type; allowed are ${allowed.join(', ')}.`
      : `Content-Type ${mediaType} is not accepted here; allowed are ${allowed.join(', ')}.`);
  // RFC 5789 section 2.2: a 415 to a PATCH should list the accepted types in Accept-Patch.
  const headers: Record<string, string> = {};
  if (method === 'PATCH') headers['accept-patch'] = allowed.join(', ');
  if (method === 'POST') headers['accept-post'] = allowed.join(', ');
  return {
    action: 'reject',
    status: 415,
    headers,
    problem: problem(
      'unsupported-media-type',
      415,
      'Unsupported Media Type',
      'BWK_ERR_UNSUPPORTED_MEDIA_TYPE',
      { detail, allowed },
    ),
    event: {
      type: 'http.media_type_rejected',
      category: 'violation',
      severity: 'low',
      details: { mediaType: mediaType ?? null, allowed },
    },
  };
}

/** Rejects a body whose bytes do not parse as its declared syntax (400). */
export function invalidBody(
  syntax: 'json' | 'form',
  error: string,
  position: number,
  line: number,
  column: number,
): Reject {
  const name = syntax === 'json' ? 'JSON' : 'form';
  const detail = `The request body is not valid ${name}: ${error} at byte ${position} (line ${line}, column ${column}).`;
  return {
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('body-invalid', 400, 'Bad Request', 'BWK_ERR_BODY_INVALID', {
      detail,
      syntax,
      error,
      position,
      line,
      column,
    }),
    event: {
      type: 'http.body_invalid',
      category: 'violation',
      severity: 'low',
      details: { syntax, error, position },
    },
  };
}

/**
 * Builds the event for a body cut off while it streamed, after the guards had admitted the
 * request, in the shape the pipeline gives its own events.
 */
export function streamedBodyEvent(
  ctx: RequestContext,
  error: RequestBodyError,
  component: string,
): EventDraft {
  const principal = ctx.principal;
  const userAgent = ctx.headers['user-agent'];
  return {
    ...error.reject.event,
    component,
    outcome: 'blocked',
    correlationId: ctx.correlationId,
    actor: {
      type: principal ? principal.type : 'anonymous',
      id: principal?.id,
      ip: ctx.ip,
      userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 256) : undefined,
    },
    target: { method: ctx.method, route: ctx.route?.id, path: ctx.path.slice(0, 512) },
    details: { ...error.reject.event.details, streamed: true },
  };
}

/**
 * Logs bodies that were cut off, at most one line per interval with the number left out since
 * the last one, so that a slow-body flood does not become a log flood.
 */
export class BodyViolationLog {
  private lastLoggedAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  record(ctx: RequestContext, error: RequestBodyError): void {
    const now = Date.now();
    if (now - this.lastLoggedAt < this.intervalMs) {
      this.suppressed += 1;
      return;
    }
    this.logger.warn(
      {
        requestId: ctx.id,
        correlationId: ctx.correlationId,
        ip: ctx.ip,
        code: error.code,
        suppressed: this.suppressed,
      },
      error.failure === 'too_slow'
        ? 'request body arrived too slowly; connection closed'
        : 'request body cut off; connection closed',
    );
    this.lastLoggedAt = now;
    this.suppressed = 0;
  }
}
