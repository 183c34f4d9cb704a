/**
 * The body guard. It checks the media type against the route's allowed ones (415). Then it
 * reads the bodies the route reads whole, under the size limit and minimum rate, and checks
 * that JSON and form bytes parse within their limits (400 and 413). Other bodies stream on,
 * and the gateway or adapter applies the same size limit and rate while they pass.
 */
import { headerValue, type BodyLimits, type RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import type { BodyChecks, RequestPolicy } from './body-config.js';
import { announcesBody } from './body-reader.js';
import {
  invalidBody,
  RequestBodyError,
  tooLarge,
  unsupportedMediaType,
} from './body-rejections.js';
import {
  matchesAny,
  parseMediaType,
  syntaxOf,
  type BodySyntax,
  type MediaType,
} from './content-type.js';
import { scanForm } from './form-scan.js';
import { lineAndColumn, scanJson } from './json-scan.js';
import { requestPolicyOf } from './limits.js';

export class BodyGuard implements Guard {
  readonly name = 'body';

  /** `onCutOff` receives each body that was too large or too slow while it was read. */
  constructor(
    private readonly fallback: RequestPolicy,
    private readonly onCutOff?: (ctx: RequestContext, error: RequestBodyError) => void,
  ) {}

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    if (!announcesBody(ctx.headers)) return CONTINUE;
    const policy = requestPolicyOf(ctx, this.fallback);
    const checks = policy.body;
    const media = parseMediaType(headerValue(ctx.headers, 'content-type'));
    const rejected = checkMediaType(ctx.method, media, checks);
    if (rejected !== undefined) return rejected;

    const syntax = checks.validate ? syntaxOf(media) : undefined;
    const reader = ctx.bodyReader;
    const limits: BodyLimits = {
      maxBytes: policy.limits.maxBodySize,
      minRate: policy.limits.minBodyRate,
    };
    if (!readsWhole(policy, syntaxOf(media), ctx)) {
      reader?.stream(limits);
      return CONTINUE;
    }
    if (ctx.body !== undefined) return inspect(ctx.body, syntax, checks);
    // NOTE: a context built without a reader (a custom adapter) has its body checks skipped.
    if (reader === undefined) return CONTINUE;

    return reader.read(limits).then(
      (body) => {
        ctx.body = body;
        return inspect(body, syntax, checks);
      },
      (error: unknown) => {
        if (!(error instanceof RequestBodyError)) throw error;
        if (error.failure !== 'incomplete') this.onCutOff?.(ctx, error);
        return error.reject;
      },
    );
  }
}

/**
 * Rejects a media type outside the route's allowed ones, and a JSON or form body that
 * declares a charset other than UTF-8, which is the only one the checks read.
 */
function checkMediaType(
  method: string,
  media: MediaType | undefined,
  checks: BodyChecks,
): Reject | undefined {
  const allowed = checks.contentTypes;
  if (allowed !== undefined && (media === undefined || !matchesAny(media, allowed))) {
    const names = allowed.map((range) => range.text);
    return unsupportedMediaType(method, media?.essence, names);
  }
  if (!checks.validate || media === undefined || syntaxOf(media) === undefined) return undefined;
  if (media.charset === undefined || media.charset === 'utf-8' || media.charset === 'utf8')
    return undefined;
  return unsupportedMediaType(
    method,
    media.essence,
    [`${media.essence}; charset=utf-8`],
    `${media.essence} bodies are read as UTF-8, but the request declares another charset.`,
  );
}

/**
 * Tells whether this request's body is read whole: the route reads every body, JSON and
 * form bodies to validate them, or form bodies for its repeated-field policy. Where the reader cannot count a streamed body (the adapters),
 * a chunked body is read whole too, since nothing else would hold it to the size limit.
 */
function readsWhole(
  policy: RequestPolicy,
  syntax: BodySyntax | undefined,
  ctx: RequestContext,
): boolean {
  if (policy.bufferBody === 'all') return true;
  if (policy.bufferBody === 'parsed' && syntax !== undefined) return true;
  if (policy.bufferBody === 'form' && syntax === 'form') return true;
  const reader = ctx.bodyReader;
  return (
    reader !== undefined &&
    !reader.countsStreamedBytes &&
    ctx.headers['transfer-encoding'] !== undefined
  );
}

/** Checks the bytes of a body read whole against its syntax, if it has one to check. */
function inspect(body: Buffer, syntax: BodySyntax | undefined, checks: BodyChecks): Verdict {
  if (syntax === 'json') {
    const failure = scanJson(body, checks.json);
    if (failure === undefined) return CONTINUE;
    if (failure.kind === 'syntax')
      return syntaxError('json', failure.message, failure.position, body);
    if (failure.limit === 'duplicateKeys')
      return syntaxError('json', 'duplicate member name', failure.position, body);
    return structureLimit(`json.${failure.limit}`, failure.max, failure.position);
  }
  if (syntax === 'form') {
    const failure = scanForm(body, checks.form);
    if (failure === undefined) return CONTINUE;
    if (failure.kind === 'syntax')
      return syntaxError('form', failure.message, failure.position, body);
    return structureLimit(`form.${failure.limit}`, failure.max, failure.position);
  }
  return CONTINUE;
}

function syntaxError(syntax: BodySyntax, message: string, position: number, body: Buffer): Reject {
  const { line, column } = lineAndColumn(body, position);
  return invalidBody(syntax, message, position, line, column);
}

const LIMIT_TEXT: Record<string, string> = {
  'json.maxDepth': 'nests deeper than',
  'json.maxKeys': 'has an object with more members than',
  'json.maxStringLength': 'has a string longer than',
  'form.maxFields': 'has more fields than',
  'form.maxStringLength': 'has a name or value longer than',
};

function structureLimit(
  limit: `json.${string}` | `form.${string}`,
  max: number,
  position: number,
): Reject {
  const verdict = tooLarge(
    limit,
    max,
    `The request body ${LIMIT_TEXT[limit]} ${max} (${limit}), at byte ${position}.`,
  );
  return { ...verdict, problem: { ...verdict.problem, position } };
}
