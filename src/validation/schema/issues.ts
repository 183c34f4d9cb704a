/**
 * Validation failures in one shape for JSON Schema (Ajv) and zod: where the field is, which
 * rule it broke, and a message. No issue carries the value that failed, because a client
 * value may be large, contain markup, or be someone else's secret.
 */
import type { ErrorObject } from 'ajv';

import { escapePointer } from './redos.js';

/** The part of a request a schema applies to. */
export type RequestPart = 'body' | 'query' | 'params' | 'headers';

export interface ValidationIssue {
  in: RequestPart;
  /** JSON pointer into the part, e.g. `/items/0/email`. Empty for the part as a whole. */
  path: string;
  /** The schema keyword or zod check that failed, e.g. `format`, `maxLength`, `required`. */
  rule: string;
  message: string;
}

/** Maximum length of a path segment. A longer key (chosen by the client) is cut and marked. */
const MAX_SEGMENT = 64;
/** Maximum length of the path in an issue. */
const MAX_PATH = 256;

/**
 * Returns a path safe to send back: segments cut at 64 characters, characters outside
 * printable ASCII and the HTML specials `<>"'&` percent-encoded, at most 256 characters.
 * Unknown field names are chosen by the client, so they get the same care as values.
 */
export function safePath(segments: readonly (string | number)[]): string {
  let path = '';
  for (const segment of segments) {
    const text = String(segment);
    const kept = text.length > MAX_SEGMENT ? text.slice(0, MAX_SEGMENT) : text;
    path += `/${escapePointer(kept).replace(UNSAFE_PATH_CHARACTER, encodeCharacter)}`;
    if (kept !== text) path += '…';
    if (path.length > MAX_PATH) return `${path.slice(0, MAX_PATH)}…`;
  }
  return path;
}

// Everything but printable ASCII, and characters that matter in HTML. The ellipsis that
// marks a cut is added after this replacement.
const UNSAFE_PATH_CHARACTER = /[^\x20-\x7e]|[<>"'&%]/gu;

function encodeCharacter(character: string): string {
  return [...Buffer.from(character, 'utf8')]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}

/** Splits an Ajv instance path (a JSON pointer) into its unescaped segments. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** Converts Ajv's errors into issues, naming the missing or unknown property in the path. */
export function ajvIssues(part: RequestPart, errors: readonly ErrorObject[]): ValidationIssue[] {
  return errors.map((error) => {
    const segments = pointerSegments(error.instancePath);
    const params = error.params as Record<string, unknown>;
    let rule = error.keyword;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
      segments.push(params.missingProperty);
      message = 'is required';
    } else if (
      error.keyword === 'additionalProperties' &&
      typeof params.additionalProperty === 'string'
    ) {
      segments.push(params.additionalProperty);
      rule = 'unknownField';
      message = 'is not allowed';
    } else if (
      error.keyword === 'unevaluatedProperties' &&
      typeof params.unevaluatedProperty === 'string'
    ) {
      segments.push(params.unevaluatedProperty);
      rule = 'unknownField';
      message = 'is not allowed';
    }
    return { in: part, path: safePath(segments), rule, message };
  });
}

/** The parts of a zod issue this module reads, so that zod 3 and 4 issues both fit. */
interface ZodIssueLike {
  code: string;
  path: readonly PropertyKey[];
  message: string;
  format?: string;
  origin?: string;
  keys?: readonly string[];
}

/**
 * Converts zod issues into issues with JSON Schema rule names where one matches, so a client
 * sees one vocabulary whichever schema language the route uses. A refinement keeps the
 * `custom` rule and its own message.
 */
export function zodIssues(part: RequestPart, issues: readonly ZodIssueLike[]): ValidationIssue[] {
  return issues.flatMap((issue) => {
    const segments = issue.path.map((key) => (typeof key === 'symbol' ? '' : key));
    if (issue.code === 'unrecognized_keys') {
      return (issue.keys ?? []).map((key) => ({
        in: part,
        path: safePath([...segments, key]),
        rule: 'unknownField',
        message: 'is not allowed',
      }));
    }
    return [{ in: part, path: safePath(segments), rule: zodRule(issue), message: issue.message }];
  });
}

function zodRule(issue: ZodIssueLike): string {
  switch (issue.code) {
    case 'invalid_type':
      return 'type';
    case 'invalid_format':
    case 'invalid_string':
      return issue.format === 'regex' ? 'pattern' : 'format';
    case 'too_small':
      return boundRule('min', issue.origin);
    case 'too_big':
      return boundRule('max', issue.origin);
    case 'invalid_value':
    case 'invalid_enum_value':
      return 'enum';
    case 'not_multiple_of':
      return 'multipleOf';
    default:
      return issue.code;
  }
}

function boundRule(side: 'min' | 'max', origin: string | undefined): string {
  if (origin === 'string') return `${side}Length`;
  if (origin === 'array' || origin === 'set') return `${side}Items`;
  if (origin === 'object') return `${side}Properties`;
  return side === 'min' ? 'minimum' : 'maximum';
}
