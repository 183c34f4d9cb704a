/**
 * The sanitize guard: replaces the HTML fields a route declares (`sanitize: { 'body.bio':
 * 'basic' }`) with their sanitized form, and forwards the rewritten body. It runs after the
 * schema and injection guards, so they judge what the client sent. A field over the length
 * or depth limit is rejected, since cutting HTML would change its meaning.
 *
 * Paths are dotted, with `*` for every element of an array or every value of an object.
 * A number, boolean or null is left alone. An object or a nested array is rejected, because
 * markup inside it would reach the upstream unsanitized.
 */
import type { RequestContext } from '../../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../../core/guard.js';
import { requestValues } from '../request-values.js';
import { formWith, rewriteBody } from '../schema/guard.js';
import { safePath, type ValidationIssue } from '../schema/issues.js';
import { validationFailed } from '../schema/rejection.js';
import { HtmlTooLargeError, type HtmlSanitizer } from './html.js';

/** One declared field: its path below `body`, and the profile applied. */
export interface SanitizedField {
  readonly path: readonly string[];
  readonly profile: string;
}

export interface RouteSanitizing {
  readonly fields: readonly SanitizedField[];
  readonly status: 400 | 422;
}

export class SanitizeGuard implements Guard {
  readonly name = 'sanitize';

  constructor(
    private readonly routes: ReadonlyMap<string, RouteSanitizing>,
    private readonly sanitizer: HtmlSanitizer,
    private readonly maxErrors: number,
  ) {}

  check(ctx: RequestContext): Verdict {
    const route = ctx.route === undefined ? undefined : this.routes.get(ctx.route.id);
    if (route === undefined) return CONTINUE;
    const body = requestValues(ctx).body;
    if (body.kind !== 'json' && body.kind !== 'form') return CONTINUE;

    const issues: ValidationIssue[] = [];
    let changed = false;
    for (const field of route.fields) {
      walk(body.value, field.path, [], (holder, key, at) => {
        const value = holder[key];
        // Markup nested in an object would pass both this guard and the injection guard,
        // because the injection guard leaves declared HTML fields to this one. So such a
        // value is rejected.
        if (value !== null && typeof value === 'object') {
          issues.push({
            in: 'body',
            path: safePath(at),
            rule: 'type',
            message: 'must be HTML text',
          });
          return;
        }
        if (typeof value !== 'string') return;
        try {
          const clean = this.sanitizer.sanitize(value, field.profile);
          if (clean === value) return;
          holder[key] = clean;
          changed = true;
        } catch (error) {
          if (!(error instanceof HtmlTooLargeError)) throw error;
          issues.push({
            in: 'body',
            path: safePath(at),
            rule: error.limit,
            message: error.message,
          });
        }
      });
    }
    if (issues.length > 0) return validationFailed(issues, route.status, this.maxErrors);
    if (!changed) return CONTINUE;

    const bytes =
      body.kind === 'json'
        ? JSON.stringify(body.value)
        : formWith(body.value, Object.keys(body.value));
    rewriteBody(ctx, Buffer.from(bytes, 'utf8'));
    return CONTINUE;
  }
}

type Visit = (holder: Record<string, unknown>, key: string, at: (string | number)[]) => void;

/** Calls `visit` for every value at `path` below `node`, expanding `*` segments. */
function walk(node: unknown, path: readonly string[], at: (string | number)[], visit: Visit): void {
  if (node === null || typeof node !== 'object' || path.length === 0) return;
  const [segment, ...rest] = path as [string, ...string[]];
  const holder = node as Record<string, unknown>;
  const keys =
    segment === '*' ? Object.keys(holder) : Object.hasOwn(holder, segment) ? [segment] : [];
  for (const key of keys) {
    const position = [...at, Array.isArray(node) ? Number(key) : key];
    const value = holder[key];
    if (rest.length > 0) walk(value, rest, position, visit);
    else if (Array.isArray(value)) visitElements(value, position, visit);
    else visit(holder, key, position);
  }
}

/**
 * Visits each element of an array at the end of a path: a list of HTML strings, or a form
 * field sent several times.
 */
function visitElements(values: unknown[], at: (string | number)[], visit: Visit): void {
  const holder = values as unknown as Record<string, unknown>;
  for (let index = 0; index < values.length; index++) visit(holder, String(index), [...at, index]);
}
