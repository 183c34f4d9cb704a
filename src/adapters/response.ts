import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

import type { RequestContext } from '../core/context.js';
import { sendAnswer, sendProblem } from '../core/http-response.js';
import type { Decision } from '../core/pipeline.js';
import { problem } from '../core/problem.js';
import { admitRequest, rejectionFor } from '../ddos/admission.js';
import type { LoadShedder, Shed } from '../ddos/load-shedding.js';

export type Rejection = Extract<Decision, { action: 'reject' }>;

/** Problem sent when the adapter itself fails, as opposed to a guard's verdict. */
export const INTERNAL_PROBLEM = problem(
  'internal',
  500,
  'Internal Server Error',
  'BWK_ERR_INTERNAL',
);

/** Adds the headers of a decision (RateLimit and the like) to a node:http response. */
export function setHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/**
 * Carries out a decision on a node:http response: writes a rejection or a guard's answer, or
 * sets the decision's headers and calls `proceed` (Express's `next`, or the wrapped handler).
 * Headers set before `proceed` are defaults in effect: the application may replace them.
 */
export function applyDecision(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  decision: Decision,
  proceed: () => void,
  shedder?: LoadShedder,
): void {
  if (decision.action === 'reject') {
    sendRejection(req, res, ctx, decision);
    return;
  }
  if (decision.action === 'respond') {
    if (hasRequestBody(req.headers)) res.setHeader('connection', 'close');
    sendAnswer(res, decision.status, decision.headers);
    return;
  }
  if (ctx.responseDefaults !== undefined) setHeaders(res, ctx.responseDefaults);
  setHeaders(res, decision.headers);
  if (ctx.forwardUrl !== undefined) useForwardUrl(req, ctx, ctx.forwardUrl);
  if (ctx.forwardBody !== undefined) replayForwardBody(req, ctx.forwardBody);
  if (shedder === undefined) proceed();
  else {
    const shed = (result: Shed): void => sendRejection(req, res, ctx, rejectionFor(ctx, result));
    admitRequest(shedder, ctx, res, proceed, shed);
  }
}

/**
 * Hands the application the target a guard rewrote (repeated query parameters collapsed,
 * slashes merged). Express under a mount path has removed the prefix from `req.url`, so
 * there only the query is replaced, and `originalUrl` gets the whole target.
 * NOTE: under an Express mount path, merged slashes reach the application unmerged.
 */
function useForwardUrl(req: IncomingMessage, ctx: RequestContext, target: string): void {
  const url = req.url ?? '/';
  if (url === ctx.url) {
    req.url = target;
    return;
  }
  const queryStart = target.indexOf('?');
  const pathEnd = url.indexOf('?');
  req.url =
    (pathEnd === -1 ? url : url.slice(0, pathEnd)) +
    (queryStart === -1 ? '' : target.slice(queryStart));
  if ('originalUrl' in req) (req as IncomingMessage & { originalUrl: string }).originalUrl = target;
}

/**
 * Hands the application the body a guard rewrote (repeated form fields dropped). The body
 * reader put the body as received back into `req`, where it waits unread, so it is taken out
 * and the new bytes put back in the same tick, before the stream can emit 'end'. Body parsers
 * compare the bytes with Content-Length, so the header follows the new length.
 */
export function replayForwardBody(req: IncomingMessage, body: Buffer): void {
  while (req.read() !== null) {
    // The bytes as received are dropped.
  }
  req.unshift(body);
  if (req.headers['content-length'] !== undefined)
    req.headers['content-length'] = String(body.length);
}

/** Writes a rejection as problem+json on a node:http response (Express's extends it). */
export function sendRejection(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  rejection: Rejection,
): void {
  if (hasRequestBody(req.headers)) res.setHeader('connection', 'close');
  sendProblem(res, rejection.body, rejection.headers, ctx.correlationId);
}

/**
 * Tells whether the client sends a body. A rejected request's body is never read, so the
 * adapters close such connections rather than let the client keep sending into them.
 */
export function hasRequestBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
