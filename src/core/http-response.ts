import type { ServerResponse } from 'node:http';

import { PROBLEM_CONTENT_TYPE, serializeProblem, type Problem } from './problem.js';

/**
 * Headers of every response Bulwark writes itself (problem bodies, preflight responses, admin
 * and OAuth JSON). Such a body is never a document to render or frame, so the policy allows
 * nothing, and `nosniff` keeps a browser from reading JSON as HTML or script.
 */
export const GENERATED_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
});

/** Writes a problem+json response carrying the request id, for node:http and Express. */
export function sendProblem(
  res: ServerResponse,
  body: Problem,
  headers: Record<string, string>,
  requestId: string,
): void {
  const payload = serializeProblem(body, requestId);
  res.writeHead(body.status, {
    ...headers,
    ...GENERATED_RESPONSE_HEADERS,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(payload);
}

/**
 * Writes a guard's bodiless response, such as a CORS preflight's 204, for node:http and
 * Express. `headers` must carry the request id already.
 */
export function sendAnswer(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
): void {
  // RFC 9110 section 8.6: a 204 carries no Content-Length; other statuses announce the empty body.
  const written: Record<string, string | number> = { ...headers, ...GENERATED_RESPONSE_HEADERS };
  if (status !== 204) written['content-length'] = 0;
  res.writeHead(status, written);
  res.end();
}
