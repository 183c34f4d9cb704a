import type { IncomingMessage } from 'node:http';

import { problem, type Problem } from '../core/problem.js';
import type { InputIssue } from './credential-input.js';

/** Largest admin API request body. The largest valid one (a key with 64 scopes) is ~9 KiB. */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; problem: Problem; reason: string; closeConnection: boolean };

/** Limits and rejection problems of one endpoint's JSON body. */
export interface JsonBodyOptions {
  maxBytes: number;
  /** Whether a `Content-Type` header names a media type the endpoint accepts. */
  acceptsMediaType: (header: string | undefined) => boolean;
  /**
   * Builds the value of an absent or empty body, a fresh one per request because handlers
   * may change it. Without it, an empty body is invalid JSON.
   */
  emptyBody?: () => unknown;
  /** Builds the 413 problem. */
  tooLarge: () => Problem;
  /** Builds the 415 problem. */
  unsupportedMediaType: () => Problem;
  /** Builds the 400 problem for a body that is not JSON or was cut off. */
  invalidBody: (message: string) => Problem;
}

/**
 * Reads a JSON request body of at most `options.maxBytes`. The checks run in this order: an
 * empty body (when `emptyBody` is set), the declared length, the media type. A body that
 * fails a check is not read, nor is the rest of a body that grows past the limit. Those
 * results set `closeConnection` so the caller closes the connection.
 */
export function readJsonBody(req: IncomingMessage, options: JsonBodyOptions): Promise<BodyResult> {
  if (options.emptyBody !== undefined && !hasBody(req))
    return Promise.resolve({ ok: true, value: options.emptyBody() });

  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > options.maxBytes)
    return Promise.resolve(rejected(options.tooLarge(), 'body_too_large', true));
  if (!options.acceptsMediaType(req.headers['content-type']))
    return Promise.resolve(
      rejected(options.unsupportedMediaType(), 'unsupported_media_type', true),
    );
  return collect(req, options);
}

/**
 * Reads an admin API request body. An empty body reads as `{}`, so that operations with only
 * optional fields can be called without one.
 */
export function readAdminBody(req: IncomingMessage): Promise<BodyResult> {
  return readJsonBody(req, ADMIN_BODY);
}

/** Returns whether the request announces a body, by a non-zero length or chunked transfer. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const ADMIN_BODY: JsonBodyOptions = {
  maxBytes: MAX_ADMIN_BODY_BYTES,
  acceptsMediaType: isJsonMediaType,
  emptyBody: () => ({}),
  tooLarge: () =>
    problem('admin-body-too-large', 413, 'Content Too Large', 'BWK_ERR_ADMIN_BODY_TOO_LARGE', {
      detail: `The request body is larger than ${MAX_ADMIN_BODY_BYTES} bytes.`,
    }),
  unsupportedMediaType: () =>
    problem(
      'admin-unsupported-media-type',
      415,
      'Unsupported Media Type',
      'BWK_ERR_ADMIN_MEDIA_TYPE',
      { detail: 'Send the request body as JSON with Content-Type: application/json.' },
    ),
  invalidBody: (message) => invalidRequest([{ field: '(body)', message }]),
};

function collect(req: IncomingMessage, options: JsonBodyOptions): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const cutOff = (): void =>
      settle(rejected(options.invalidBody('the request body was cut off'), 'aborted', true));

    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // The rest is not read: the response closes the connection instead.
      if (size > options.maxBytes) {
        req.pause();
        settle(rejected(options.tooLarge(), 'body_too_large', true));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => settle(parseJson(Buffer.concat(chunks), options)));
    req.on('error', cutOff);
    req.on('close', cutOff);
  });
}

function parseJson(bytes: Buffer, options: JsonBodyOptions): BodyResult {
  if (bytes.length === 0 && options.emptyBody !== undefined)
    return { ok: true, value: options.emptyBody() };
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return rejected(options.invalidBody('is not valid JSON'), 'invalid_json', false);
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

function rejected(body: Problem, reason: string, closeConnection: boolean): BodyResult {
  return { ok: false, problem: body, reason, closeConnection };
}

/** Builds the 400 problem for invalid input, whose `errors` name each field and its problem. */
export function invalidRequest(issues: readonly InputIssue[]): Problem {
  const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
  return problem('admin-invalid-request', 400, 'Bad Request', 'BWK_ERR_ADMIN_INVALID_REQUEST', {
    detail: `Invalid request: ${summary}.`,
    errors: issues,
  });
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
