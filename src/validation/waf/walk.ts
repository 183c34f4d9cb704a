/**
 * The walk over the values of a request that the injection guard inspects. It visits the
 * path, route parameters, query, selected headers, cookies and the parsed body, and names each
 * string by its field path (`query.q`, `body.items[2].note`, `headers.user-agent`). Object member names and
 * parameter names are visited too, as keys, because prototype pollution and NoSQL operators
 * hide in names. The walk is bounded in depth and in the number of strings it visits.
 */
import { headerValue, type RequestContext } from '../../core/context.js';
import { parseMediaType } from '../../http/content-type.js';
import { requestValues } from '../request-values.js';
import type { WafPolicy } from './config.js';
import { indexPath, memberPath } from './field-glob.js';

/**
 * Receives one string: a value, or the name of a member or parameter (`isKey`). For a member
 * of a JSON object that is itself a member, `parentKey` is the name of that parent member.
 */
export type FieldVisitor = (path: string, text: string, isKey: boolean, parentKey?: string) => void;

export interface WalkResult {
  /** Strings visited. */
  readonly visited: number;
  /** True when `limits.maxValues` or `limits.maxDepth` cut the walk short. */
  readonly truncated: boolean;
}

/** Visits every string of `ctx` that `policy.inspect` selects, within `policy.limits`. */
export function walkRequest(
  ctx: RequestContext,
  policy: WafPolicy,
  visit: FieldVisitor,
): WalkResult {
  const walker = new Walker(policy.limits, visit);
  const inspect = policy.inspect;
  if (inspect.path) walker.string('path', ctx.path);

  const needsValues = inspect.params || inspect.query || inspect.cookies || inspect.body;
  const values = needsValues ? requestValues(ctx) : undefined;
  if (values !== undefined && inspect.params) walker.record('params', values.params);
  if (values !== undefined && inspect.query) walker.record('query', values.query);

  for (const name of inspect.headers) {
    const value = headerValue(ctx.headers, name);
    if (value !== undefined) walker.string(`headers.${name}`, value);
  }

  if (values !== undefined && inspect.cookies) walker.record('cookies', values.cookies);
  if (values !== undefined && inspect.body) {
    const body = values.body;
    if (body.kind === 'json') walker.json('body', body.value, 0);
    else if (body.kind === 'form') walker.record('body', body.value);
    else if (body.kind === 'unparsed' && body.reason === 'media-type' && isTextBody(ctx))
      // A body the route read whole in another text format (XML, plain text) is one field.
      walker.string('body', (ctx.forwardBody ?? ctx.body)!.toString('utf8'));
  }
  return { visited: walker.visited, truncated: walker.truncated };
}

/**
 * Checks whether the request has a body read whole in a text format: `text/*`, XML or an
 * `+xml` type. Binary bodies (images, archives, multipart) are left to the upload checks.
 */
function isTextBody(ctx: RequestContext): boolean {
  if (ctx.body === undefined) return false;
  const media = parseMediaType(headerValue(ctx.headers, 'content-type'));
  if (media === undefined) return false;
  return media.type === 'text' || media.subtype === 'xml' || media.subtype.endsWith('+xml');
}

class Walker {
  visited = 0;
  truncated = false;

  constructor(
    private readonly limits: WafPolicy['limits'],
    private readonly visit: FieldVisitor,
  ) {}

  /** Visits one string. Returns false once the value limit is reached. */
  string(path: string, text: string, isKey = false, parentKey?: string): boolean {
    if (this.visited >= this.limits.maxValues) {
      this.truncated = true;
      return false;
    }
    this.visited++;
    this.visit(path, text, isKey, parentKey);
    return true;
  }

  /** Visits the names and values of query parameters, form fields, cookies or route params. */
  record(root: string, record: Record<string, string | string[]>): void {
    for (const name of Object.keys(record)) {
      const path = memberPath(root, name);
      if (!this.string(path, name, true)) return;
      const value = record[name]!;
      if (typeof value === 'string') {
        if (!this.string(path, value)) return;
        continue;
      }
      for (let index = 0; index < value.length; index++) {
        if (!this.string(indexPath(path, index), value[index]!)) return;
      }
    }
  }

  /**
   * Visits a parsed JSON value depth first. Numbers, booleans and null carry no text.
   * `parentKey` is the name of the member that contains `value`, passed on with the names of its members.
   */
  json(path: string, value: unknown, depth: number, parentKey?: string): boolean {
    if (typeof value === 'string') return this.string(path, value);
    if (value === null || typeof value !== 'object') return true;
    if (depth >= this.limits.maxDepth) {
      this.truncated = true;
      return true;
    }

    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        if (!this.json(indexPath(path, index), value[index], depth + 1)) return false;
      }
      return true;
    }
    // JSON.parse makes `__proto__` an own member, so Object.keys lists it like any name.
    const members = value as Record<string, unknown>;
    for (const name of Object.keys(members)) {
      const member = memberPath(path, name);
      if (!this.string(member, name, true, parentKey)) return false;
      if (!this.json(member, members[name], depth + 1, name)) return false;
    }
    return true;
  }
}
