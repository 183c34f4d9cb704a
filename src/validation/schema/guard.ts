/**
 * The schema guard: validates the path parameters, query, headers and body of a request
 * against its route's schemas, in the input stage after authentication, rate limits and
 * authorization. A request that fails is rejected with 400 (or 422) listing every invalid
 * field. Under the `strip` policy, unknown fields of the body and query are removed and the
 * rewritten request is forwarded.
 *
 * Values come from `requestValues`, which parses them once for this guard and the injection
 * guard. After rewriting the body, the guard drops that cache, so later guards read the body
 * that will be forwarded.
 */
import { headerValue, type RequestContext } from '../../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../../core/guard.js';
import { forgetRequestValues, requestValues } from '../request-values.js';
import type { PartValidator } from './compile.js';
import type { RequestPart, ValidationIssue } from './issues.js';
import { validationFailed } from './rejection.js';

/** A route's compiled schemas and the status of its failures. */
export interface RouteSchemas {
  readonly parts: Readonly<Partial<Record<RequestPart, PartValidator>>>;
  readonly status: 400 | 422;
}

export class SchemaGuard implements Guard {
  readonly name = 'schema';

  /**
   * @param routes compiled schemas by route id (the route's `match` text)
   * @param maxErrors maximum number of issues listed in one rejection
   */
  constructor(
    private readonly routes: ReadonlyMap<string, RouteSchemas>,
    private readonly maxErrors: number,
  ) {}

  check(ctx: RequestContext): Verdict {
    const route = ctx.route === undefined ? undefined : this.routes.get(ctx.route.id);
    if (route === undefined) return CONTINUE;
    const { parts } = route;
    const issues: ValidationIssue[] = [];

    if (parts.params) issues.push(...parts.params.validate(this.params(ctx), true).issues);
    if (parts.query) issues.push(...this.checkQuery(ctx, parts.query));
    if (parts.headers) issues.push(...parts.headers.validate(headersOf(ctx), true).issues);
    if (parts.body) issues.push(...this.checkBody(ctx, parts.body));

    return issues.length === 0 ? CONTINUE : validationFailed(issues, route.status, this.maxErrors);
  }

  private params(ctx: RequestContext): Record<string, string> {
    return { ...requestValues(ctx).params };
  }

  private checkQuery(ctx: RequestContext, validator: PartValidator): ValidationIssue[] {
    const query = requestValues(ctx).query;
    // A copy, because coercion converts values in place and the injection guard reads the
    // strings as sent.
    const copy: Record<string, unknown> = Object.create(null);
    for (const [name, value] of Object.entries(query))
      copy[name] = Array.isArray(value) ? [...value] : value;
    const result = validator.validate(copy, true);
    if (result.stripped) {
      const removed = Object.keys(query).filter((name) => !Object.hasOwn(copy, name));
      ctx.forwardUrl = withoutQueryNames(ctx.forwardUrl ?? ctx.url, new Set(removed));
      forgetRequestValues(ctx);
    }
    return result.issues;
  }

  private checkBody(ctx: RequestContext, validator: PartValidator): ValidationIssue[] {
    const body = requestValues(ctx).body;
    switch (body.kind) {
      case 'none':
        return [{ in: 'body', path: '', rule: 'required', message: 'a body is required' }];
      case 'unparsed':
        return [
          body.reason === 'syntax'
            ? { in: 'body', path: '', rule: 'syntax', message: 'is not valid JSON' }
            : {
                in: 'body',
                path: '',
                rule: 'mediaType',
                message: 'must be JSON or a form (application/x-www-form-urlencoded)',
              },
        ];
      case 'json': {
        const result = validator.validate(body.value, false);
        if (result.stripped) rewriteBody(ctx, Buffer.from(JSON.stringify(result.value), 'utf8'));
        return result.issues;
      }
      case 'form': {
        const copy: Record<string, unknown> = { ...body.value };
        const result = validator.validate(copy, true);
        if (result.stripped) {
          const kept = Object.keys(body.value).filter((name) => Object.hasOwn(copy, name));
          rewriteBody(ctx, Buffer.from(formWith(body.value, kept), 'utf8'));
        }
        return result.issues;
      }
    }
  }
}

/** Sets the body to forward and drops the parsed values, which described the old one. */
export function rewriteBody(ctx: RequestContext, bytes: Buffer): void {
  ctx.forwardBody = bytes;
  forgetRequestValues(ctx);
}

/** Serialises the form fields named in `names`, repeated fields in their order. */
export function formWith(
  fields: Readonly<Record<string, string | string[]>>,
  names: readonly string[],
): string {
  const params = new URLSearchParams();
  for (const name of names) {
    const value = fields[name];
    for (const item of Array.isArray(value) ? value : [value ?? '']) params.append(name, item);
  }
  return params.toString();
}

/** Returns `url` without the query parameters whose decoded names are in `removed`. */
function withoutQueryNames(url: string, removed: ReadonlySet<string>): string {
  const start = url.indexOf('?');
  if (start === -1 || removed.size === 0) return url;
  // Pairs that stay keep their bytes as sent. Only removed ones are dropped.
  const kept = url
    .slice(start + 1)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=', 1)[0] ?? '';
      return !removed.has(decodeName(name));
    });
  return kept.length === 0 ? url.slice(0, start) : `${url.slice(0, start)}?${kept.join('&')}`;
}

function decodeName(name: string): string {
  return new URLSearchParams(`${name}=`).keys().next().value ?? name;
}

/** Headers as strings by lower-case name. A repeated header gives its first value. */
function headersOf(ctx: RequestContext): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const name of Object.keys(ctx.headers)) {
    const value = headerValue(ctx.headers, name);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}
