/**
 * The values of a request that input guards inspect, parsed once per request and shared by
 * the schema validator and the injection guard. Parsing is bounded: the body has already
 * passed the JSON and form checks of the body guard when it was buffered, and the query is
 * split with URLSearchParams, which is linear.
 */
import type { RequestContext } from '../core/context.js';
import { headerValue } from '../core/context.js';
import { parseMediaType, syntaxOf } from '../http/content-type.js';

/** A parsed body, or why it has none that can be inspected. */
export type ParsedBody =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'form'; readonly value: Record<string, string | string[]> }
  | { readonly kind: 'none' }
  | { readonly kind: 'unparsed'; readonly reason: 'not-buffered' | 'media-type' | 'syntax' };

export interface RequestValues {
  /** Query parameters. A repeated name gives an array. */
  readonly query: Record<string, string | string[]>;
  /** Route parameters from the matched route pattern. */
  readonly params: Record<string, string>;
  readonly body: ParsedBody;
  /** Cookies by name. The first of a repeated name wins, as in most servers. */
  readonly cookies: Record<string, string>;
}

const cache = new WeakMap<RequestContext, RequestValues>();

/** Returns the parsed values of `ctx`, parsing them on the first call only. */
export function requestValues(ctx: RequestContext): RequestValues {
  let values = cache.get(ctx);
  if (values === undefined) {
    values = {
      query: parseQuery(ctx.url),
      params: routeParams(ctx),
      body: parseBody(ctx),
      cookies: parseCookies(headerValue(ctx.headers, 'cookie')),
    };
    cache.set(ctx, values);
  }
  return values;
}

/** Forgets the cached values, for a guard that rewrote the body it will forward. */
export function forgetRequestValues(ctx: RequestContext): void {
  cache.delete(ctx);
}

function parseQuery(url: string): Record<string, string | string[]> {
  const start = url.indexOf('?');
  if (start === -1) return {};
  return collect(new URLSearchParams(url.slice(start + 1)));
}

function collect(params: URLSearchParams): Record<string, string | string[]> {
  // A null prototype so that a parameter named `__proto__` is data, not a prototype change.
  const result: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of params) {
    const previous = result[name];
    if (previous === undefined) result[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else result[name] = [previous, value];
  }
  return result;
}

function routeParams(ctx: RequestContext): Record<string, string> {
  const result: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(ctx.route?.params ?? {})) {
    if (value !== undefined) result[name] = value;
  }
  return result;
}

function parseBody(ctx: RequestContext): ParsedBody {
  const body = ctx.forwardBody ?? ctx.body;
  if (body === undefined) {
    return ctx.bodyReader === undefined
      ? { kind: 'none' }
      : { kind: 'unparsed', reason: 'not-buffered' };
  }
  if (body.length === 0) return { kind: 'none' };

  const syntax = syntaxOf(parseMediaType(headerValue(ctx.headers, 'content-type')));
  if (syntax === 'form')
    return { kind: 'form', value: collect(new URLSearchParams(body.toString('utf8'))) };
  if (syntax !== 'json') return { kind: 'unparsed', reason: 'media-type' };

  try {
    return { kind: 'json', value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { kind: 'unparsed', reason: 'syntax' };
  }
}

function parseCookies(header: string | undefined): Record<string, string> {
  const result: Record<string, string> = Object.create(null);
  if (header === undefined) return result;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals === -1) continue;
    const name = pair.slice(0, equals).trim();
    if (name === '' || name in result) continue;
    result[name] = decodeCookieValue(pair.slice(equals + 1).trim());
  }
  return result;
}

function decodeCookieValue(raw: string): string {
  const unquoted =
    raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  try {
    return decodeURIComponent(unquoted);
  } catch {
    return unquoted;
  }
}
