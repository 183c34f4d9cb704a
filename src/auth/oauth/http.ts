import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Request and response plumbing of the OAuth endpoints: bounded form bodies and the JSON
 * responses of RFC 6749 section 5. Errors use the OAuth format `{error, error_description}`
 * rather than problem+json, because OAuth client libraries parse that format.
 */

/**
 * The `error` codes of RFC 6749 section 5.2 and RFC 7009 section 2.2.1, and the two of
 * section 4.1.2.1 that this server also uses for its own failures.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type'
  | 'server_error'
  | 'temporarily_unavailable';

/** A response an endpoint returns and the server writes. */
export interface OAuthResponse {
  status: number;
  headers: Record<string, string>;
  /** A JSON body, or undefined for an empty one. */
  body?: unknown;
}

// Forms of this server carry a few short parameters; 8 KiB leaves room for long tokens.
export const MAX_FORM_BYTES = 8 * 1024;
const BODY_TIMEOUT_MS = 10_000;
const FORM_TYPE = 'application/x-www-form-urlencoded';

// RFC 6749 section 5.1 requires both on responses that carry tokens or credentials.
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/**
 * Builds an error response. `description` must be a fixed text or contain only values this
 * server chose, never client input, because clients display it.
 */
export function oauthError(
  error: OAuthErrorCode,
  description: string,
  status = 400,
  headers: Record<string, string> = {},
): OAuthResponse {
  return {
    status,
    headers: { ...NO_STORE, ...headers },
    body: { error, error_description: description },
  };
}

export function json(body: unknown, headers: Record<string, string> = {}): OAuthResponse {
  return { status: 200, headers: { ...NO_STORE, ...headers }, body };
}

/** Writes a response with the request id and the headers earlier checks added. */
export function writeResponse(
  res: ServerResponse,
  response: OAuthResponse,
  extraHeaders: Record<string, string>,
  head: boolean,
): void {
  const payload = response.body === undefined ? '' : JSON.stringify(response.body);
  const headers: Record<string, string | number> = { ...extraHeaders, ...response.headers };
  if (response.body !== undefined) headers['content-type'] ??= 'application/json';
  headers['content-length'] = Buffer.byteLength(payload);
  res.writeHead(response.status, headers);
  res.end(head ? undefined : payload);
}

/** The parameters of a form body: each recognized name once, as RFC 6749 section 3.2 requires. */
export type FormParams = ReadonlyMap<string, string>;

/**
 * Reads an `application/x-www-form-urlencoded` body of at most `MAX_FORM_BYTES`. Only the
 * names in `known` are kept, because RFC 6749 section 3.2 requires that unrecognized
 * parameters be ignored. A known name sent twice is an `invalid_request`. An empty value counts as
 * absent (section 3.1), but still counts as a repeat.
 */
export async function readForm(
  req: IncomingMessage,
  known: ReadonlySet<string>,
): Promise<FormParams | OAuthResponse> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > MAX_FORM_BYTES) return tooLarge();

  const body = await readBody(req);
  if (body === 'too_large') return tooLarge();
  if (body === 'timeout') {
    const description = `request body was not received within ${BODY_TIMEOUT_MS / 1000} s`;
    return oauthError('invalid_request', description, 400, { connection: 'close' });
  }
  if (type !== FORM_TYPE) return oauthError('invalid_request', `request body must be ${FORM_TYPE}`);

  const params = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (!known.has(name)) continue;
    if (seen.has(name)) return oauthError('invalid_request', `parameter ${name} is repeated`);
    seen.add(name);
    if (value !== '') params.set(name, value);
  }
  return params;
}

export function isOAuthResponse(value: FormParams | OAuthResponse): value is OAuthResponse {
  return !(value instanceof Map);
}

// The rest of the body is not read, so the connection cannot carry another request.
function tooLarge(): OAuthResponse {
  const description = `request body is larger than ${MAX_FORM_BYTES} bytes`;
  return oauthError('invalid_request', description, 400, { connection: 'close' });
}

/**
 * Collects the body as UTF-8. Stops at `MAX_FORM_BYTES`, or after `BODY_TIMEOUT_MS`, so a
 * client cannot hold the endpoint with an endless or stalled body.
 */
function readBody(req: IncomingMessage): Promise<string | 'too_large' | 'timeout'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: string | 'too_large' | 'timeout'): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        req.pause();
        finish('too_large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks).toString('utf8'));
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      req.pause();
      finish('timeout');
    }, BODY_TIMEOUT_MS);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
