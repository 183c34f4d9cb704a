import type { IncomingMessage } from 'node:http';

import { problem, type Problem } from '../core/problem.js';
import type { InputIssue } from './credential-input.js';

/** Largest admin API request body. The largest valid one (a key with 64 scopes) is ~9 KiB. */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; problem: Problem; reason: string; closeConnection: boolean };

/**
 * Reads a JSON request body of at most `MAX_ADMIN_BODY_BYTES`. An empty body reads as `{}`,
 * so that operations with only optional fields can be called without one. A body of another
 * media type is rejected before it is read.
 */
export function readJsonBody(req: IncomingMessage): Promise<BodyResult> {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) return Promise.resolve(empty());

  if (length !== undefined && Number(length) > MAX_ADMIN_BODY_BYTES)
    return Promise.resolve(tooLarge());
  if (!isJsonMediaType(req.headers['content-type'])) return Promise.resolve(unsupportedType());
  return collect(req);
}

function collect(req: IncomingMessage): Promise<BodyResult> {
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
      // The rest is not read: the response closes the connection instead.
      if (size > MAX_ADMIN_BODY_BYTES) {
        req.pause();
        settle(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => settle(parseJson(Buffer.concat(chunks))));
    req.on('error', () => settle(aborted()));
    req.on('close', () => settle(aborted()));
  });
}

function parseJson(bytes: Buffer): BodyResult {
  if (bytes.length === 0) return empty();
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return {
      ok: false,
      problem: invalidRequest([{ field: '(body)', message: 'is not valid JSON' }]),
      reason: 'invalid_json',
      closeConnection: false,
    };
  }
}

/** `application/json` or a `+json` suffix type, with or without parameters. */
function isJsonMediaType(header: string | undefined): boolean {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return (
    type === 'application/json' ||
    (type?.startsWith('application/') === true && type.endsWith('+json'))
  );
}

/** Builds the 400 problem for invalid input, whose `errors` name each field and its problem. */
export function invalidRequest(issues: readonly InputIssue[]): Problem {
  const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
  return problem('admin-invalid-request', 400, 'Bad Request', 'BWK_ERR_ADMIN_INVALID_REQUEST', {
    detail: `Invalid request: ${summary}.`,
    errors: issues,
  });
}

function empty(): BodyResult {
  return { ok: true, value: {} };
}

function tooLarge(): BodyResult {
  return {
    ok: false,
    problem: problem(
      'admin-body-too-large',
      413,
      'Content Too Large',
      'BWK_ERR_ADMIN_BODY_TOO_LARGE',
      {
        detail: `The request body is larger than ${MAX_ADMIN_BODY_BYTES} bytes.`,
      },
    ),
    reason: 'body_too_large',
    closeConnection: true,
  };
}

function unsupportedType(): BodyResult {
  return {
    ok: false,
    problem: problem(
      'admin-unsupported-media-type',
      415,
      'Unsupported Media Type',
      'BWK_ERR_ADMIN_MEDIA_TYPE',
      { detail: 'Send the request body as JSON with Content-Type: application/json.' },
    ),
    reason: 'unsupported_media_type',
    closeConnection: true,
  };
}

function aborted(): BodyResult {
  return {
    ok: false,
    problem: invalidRequest([{ field: '(body)', message: 'the request body was cut off' }]),
    reason: 'aborted',
    closeConnection: true,
  };
}

/**
 * Reads the query string against the parameters an endpoint allows. An unknown or repeated
 * parameter is an issue, so a misspelt filter is not silently ignored.
 */
export function parseQuery(
  url: string | undefined,
  allowed: readonly string[],
): { ok: true; value: Record<string, string> } | { ok: false; issues: InputIssue[] } {
  const start = url?.indexOf('?') ?? -1;
  const value: Record<string, string> = {};
  if (url === undefined || start === -1) return { ok: true, value };

  const issues: InputIssue[] = [];
  for (const [name, text] of new URLSearchParams(url.slice(start + 1))) {
    const field = `query.${name.slice(0, 64)}`;
    if (!allowed.includes(name)) issues.push({ field, message: 'unknown query parameter' });
    else if (Object.hasOwn(value, name)) issues.push({ field, message: 'given more than once' });
    else value[name] = text;
  }
  return issues.length === 0 ? { ok: true, value } : { ok: false, issues };
}
