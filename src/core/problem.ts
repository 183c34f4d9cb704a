/**
 * RFC 9457 problem details. The `type` is a stable URN per problem kind; `code` repeats the
 * Bulwark error code so that clients can switch on it without parsing URNs.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problem(
  kind: string,
  status: number,
  title: string,
  code: string,
  extra: { detail?: string; [extension: string]: unknown } = {},
): Problem {
  return { type: `urn:bulwark:problem:${kind}`, title, status, code, ...extra };
}

/** Serialises a problem; the request id goes in `instance` so support can find the log line. */
export function serializeProblem(body: Problem, requestId?: string): string {
  return JSON.stringify(requestId ? { ...body, instance: `urn:uuid:${requestId}` } : body);
}
