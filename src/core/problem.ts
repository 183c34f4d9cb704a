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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Serialises a problem. `instance` carries the request's correlation id, the value of the
 * `X-Request-Id` response header and of the event's `correlationId`, so that support can
 * find the event and log lines. A client-chosen id that is not a UUID gets its own URN form.
 */
export function serializeProblem(body: Problem, correlationId?: string): string {
  if (!correlationId) return JSON.stringify(body);
  const instance = UUID.test(correlationId)
    ? `urn:uuid:${correlationId}`
    : `urn:bulwark:request:${correlationId}`;
  return JSON.stringify({ ...body, instance });
}
