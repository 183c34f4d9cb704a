import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

import type { RequestContext } from '../core/context.js';
import { sendProblem } from '../core/http-response.js';
import type { Decision } from '../core/pipeline.js';
import { problem } from '../core/problem.js';

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
 * Carries out a decision on a node:http response: writes a rejection, or sets the decision's
 * headers and calls `proceed` (Express's `next`, or the wrapped handler).
 */
export function applyDecision(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  decision: Decision,
  proceed: () => void,
): void {
  if (decision.action === 'reject') {
    sendRejection(req, res, ctx, decision);
    return;
  }
  setHeaders(res, decision.headers);
  proceed();
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
