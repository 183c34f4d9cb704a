import type { ServerResponse } from 'node:http';

import { PROBLEM_CONTENT_TYPE, serializeProblem, type Problem } from './problem.js';

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
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(payload);
}
