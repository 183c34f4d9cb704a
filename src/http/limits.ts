/**
 * Size limits that the request line and headers decide: URL length (414), header count and
 * size (431), and a Content-Length over the body limit (413), all before a body byte is read.
 */
import { policyOf, type RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { problem, PROBLEM_CONTENT_TYPE, serializeProblem } from '../core/problem.js';
import type { RequestLimits, RequestPolicy } from './body-config.js';
import { tooLarge } from './body-rejections.js';
import { formatSize } from './size.js';

/** Returns the request policy a request runs under: its route's, else the global one. */
export function requestPolicyOf(ctx: RequestContext, fallback: RequestPolicy): RequestPolicy {
  return (policyOf(ctx) as RequestPolicy | undefined) ?? fallback;
}

/**
 * Checks the URL, the headers and the declared body length against the route's limits. It
 * runs before path checks and CORS, because it costs a few comparisons and bounds what those
 * guards parse.
 */
export class RequestLimitsGuard implements Guard {
  readonly name = 'limits';

  constructor(private readonly fallback: RequestPolicy) {}

  check(ctx: RequestContext): Verdict {
    const limits = requestPolicyOf(ctx, this.fallback).limits;
    if (ctx.url.length > limits.maxUrlLength) {
      return tooLarge(
        'maxUrlLength',
        limits.maxUrlLength,
        `The request target is longer than ${limits.maxUrlLength} characters.`,
      );
    }
    const headers = checkHeaders(ctx.rawHeaders, limits);
    if (headers !== undefined) return headers;

    const length = ctx.headers['content-length'];
    if (length !== undefined && Number(length) > limits.maxBodySize) {
      return tooLarge(
        'maxBodySize',
        limits.maxBodySize,
        `The request body is larger than ${formatSize(limits.maxBodySize)}.`,
      );
    }
    return CONTINUE;
  }
}

function checkHeaders(
  raw: readonly string[] | undefined,
  limits: RequestLimits,
): Verdict | undefined {
  if (raw === undefined) return undefined;
  if (raw.length / 2 > limits.maxHeaderCount) {
    return tooLarge(
      'maxHeaderCount',
      limits.maxHeaderCount,
      `The request has more than ${limits.maxHeaderCount} header fields.`,
    );
  }
  // Each line is `name: value` and CRLF, so 4 bytes besides the name and the value. Node
  // keeps header strings as latin1, one character a byte.
  let size = 0;
  for (const part of raw) size += part.length + 2;
  if (size > limits.maxHeaderSize) {
    return tooLarge(
      'maxHeaderSize',
      limits.maxHeaderSize,
      `The request header fields are larger than ${formatSize(limits.maxHeaderSize)} together.`,
    );
  }
  return undefined;
}

/** Settings of the gateway's node:http server that follow from the request limits. */
export interface ServerLimits {
  /** Node's `maxHeaderSize`: the request line and all header lines, in bytes. */
  maxHeaderSize: number;
  /**
   * Node's `maxHeadersCount`, 0 for no limit. Node drops the fields beyond its count without
   * an error, so a request could lose its Host field and get a bare 400; the guard counts
   * instead, and `maxHeaderSize` bounds the count anyway.
   */
  maxHeadersCount: 0;
}

/**
 * Derives the server's own limits from the largest limits of any route. They sit above the
 * guard's, so that a request just over a route's limit reaches the guard and gets a problem
 * body. Only a request over every route's limit is cut by Node's parser.
 */
export function serverLimits(policies: readonly RequestPolicy[]): ServerLimits {
  let headerSize = 0;
  let urlLength = 0;
  for (const { limits } of policies) {
    headerSize = Math.max(headerSize, limits.maxHeaderSize);
    urlLength = Math.max(urlLength, limits.maxUrlLength);
  }
  // The request line: method, target, version, spaces and CRLF.
  const requestLine = urlLength + 32;
  return { maxHeaderSize: headerSize + requestLine, maxHeadersCount: 0 };
}

/**
 * Returns the raw response to a request whose head is over the server's `maxHeaderSize`.
 * Node's parser rejects it before a request object exists, so no guard runs and no request
 * id is known. The body is still a problem document.
 */
export function headerOverflowResponse(): string {
  const body = serializeProblem(
    problem(
      'headers-too-large',
      431,
      'Request Header Fields Too Large',
      'BWK_ERR_HEADERS_TOO_LARGE',
      { detail: 'The request line and header fields are larger than the server accepts.' },
    ),
  );
  return (
    'HTTP/1.1 431 Request Header Fields Too Large\r\n' +
    'Connection: close\r\n' +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    'Cache-Control: no-store\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}
