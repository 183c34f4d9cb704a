/**
 * Content-Type parsing and media-range matching (RFC 9110 sections 8.3.1 and 12.5.1), kept
 * to what the body checks need: the type, the subtype and the charset parameter.
 */

/** A parsed Content-Type field value, type and subtype in lower case. */
export interface MediaType {
  /** `type/subtype`, e.g. `application/json`. */
  readonly essence: string;
  readonly type: string;
  readonly subtype: string;
  /** The `charset` parameter in lower case, if any. */
  readonly charset: string | undefined;
}

/** The syntaxes whose bytes the body guard checks. */
export type BodySyntax = 'json' | 'form';

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Longest Content-Type value parsed; real ones are under 100 bytes. */
const MAX_CONTENT_TYPE_LENGTH = 1024;

/** Parses a Content-Type value; returns undefined when it is absent or malformed. */
export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (value === undefined || value.length > MAX_CONTENT_TYPE_LENGTH) return undefined;
  const semicolon = value.indexOf(';');
  const essence = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  const slash = essence.indexOf('/');
  const type = essence.slice(0, slash);
  const subtype = essence.slice(slash + 1);
  if (slash === -1 || !TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;

  let charset: string | undefined;
  if (semicolon !== -1) {
    for (const parameter of value.slice(semicolon + 1).split(';')) {
      const equals = parameter.indexOf('=');
      if (equals === -1) continue;
      if (parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
      charset = unquote(parameter.slice(equals + 1).trim()).toLowerCase();
    }
  }
  return { essence, type, subtype, charset };
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"')
    ? value.slice(1, -1)
    : value;
}

/**
 * An allowed media range from configuration: `application/json`, `text/*`, `*\/*`, or a
 * structured-syntax suffix range such as `application/*+json` (RFC 6838 section 4.2.8).
 */
export interface MediaRange {
  /** The range as configured, in lower case, for messages. */
  readonly text: string;
  readonly type: string;
  /** `*` for any subtype. */
  readonly subtype: string;
  /** With a `*+suffix` subtype, the suffix including `+`. */
  readonly suffix: string | undefined;
}

const RANGE = /^([a-z0-9!#$&^_.+-]+|\*)\/(\*(\+[a-z0-9!#$&^_.-]+)?|[a-z0-9!#$&^_.+-]+)$/;

/** Parses a configured media range; returns undefined when it is not one. */
export function parseMediaRange(text: string): MediaRange | undefined {
  const lower = text.trim().toLowerCase();
  const match = RANGE.exec(lower);
  if (match === null) return undefined;
  const type = match[1]!;
  const subtype = match[2]!;
  if (type === '*' && subtype !== '*') return undefined;
  const suffix = match[3];
  return { text: lower, type, subtype: suffix === undefined ? subtype : '*', suffix };
}

/** Tells whether `media` falls in any of `ranges`. */
export function matchesAny(media: MediaType, ranges: readonly MediaRange[]): boolean {
  return ranges.some((range) => matches(media, range));
}

function matches(media: MediaType, range: MediaRange): boolean {
  if (range.type !== '*' && range.type !== media.type) return false;
  if (range.suffix !== undefined) return media.subtype.endsWith(range.suffix);
  return range.subtype === '*' || range.subtype === media.subtype;
}

/**
 * Returns the syntax whose bytes can be checked for a media type: JSON for
 * `application/json` and any `+json` type (RFC 6839), form for
 * `application/x-www-form-urlencoded`, else undefined. Multipart bodies are not parsed here.
 */
export function syntaxOf(media: MediaType | undefined): BodySyntax | undefined {
  if (media === undefined) return undefined;
  if (media.essence === 'application/json' || media.subtype.endsWith('+json')) return 'json';
  if (media.essence === 'application/x-www-form-urlencoded') return 'form';
  return undefined;
}
