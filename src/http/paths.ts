/**
 * Method and path checks that run before any route policy applies, so that a route cannot be
 * reached under a spelling the router reads one way and the upstream another.
 *
 * The router already folds case, trailing slashes, `;` parameters and percent-encoded
 * letters (`/%61dmin` matches `/admin`), so those spellings get the protected route's
 * policy. What is rejected here is what the router and upstreams may disagree on: an
 * encoded `/` that one side splits on and the other does not, dot segments an upstream may
 * resolve differently, a NUL that truncates the path in C code, a backslash that Windows
 * servers read as `/`, double encoding, and overlong UTF-8 that old decoders turn into `/` or
 * `.`. Only the path is checked, because the query is the parameters guard's.
 */

/** Reason a path was rejected, carried as `reason` by the problem body and the event. */
export type PathViolation =
  | 'not_origin_form'
  | 'invalid_character'
  | 'backslash'
  | 'invalid_percent_encoding'
  | 'encoded_control'
  | 'encoded_separator'
  | 'encoded_dot'
  | 'double_encoding'
  | 'invalid_utf8'
  | 'dot_segment'
  | 'empty_segment';

/** The text of each rejection. It names the rule, never the client's path. */
export const PATH_VIOLATION_DETAILS: Readonly<Record<PathViolation, string>> = {
  not_origin_form: 'The request target must be a path starting with "/".',
  invalid_character: 'The path contains a control character, a NUL or a non-ASCII character.',
  backslash: 'The path contains a backslash, which some servers read as "/".',
  invalid_percent_encoding: 'The path contains a "%" that is not followed by two hex digits.',
  encoded_control: 'The path contains a percent-encoded control character such as %00.',
  encoded_separator: 'The path contains an encoded separator (%2F, %5C or %3B).',
  encoded_dot: 'The path contains an encoded dot (%2E), which can form a "." or ".." segment.',
  double_encoding: 'The path contains a double-encoded character (%25 followed by two hex digits).',
  invalid_utf8: 'The percent-encoded bytes of the path are not valid UTF-8.',
  dot_segment: 'The path contains a "." or ".." segment; send the resolved path instead.',
  empty_segment: 'The path contains an empty segment ("//").',
};

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const DOT = 0x2e;
const SEMICOLON = 0x3b;

/**
 * Returns the first rule the path breaks, or undefined for a clean path. `empty_segment` is
 * returned only when no other rule is broken, so that a caller that merges slashes can rely on
 * the rest of the path being clean. The scan is one pass over the characters, and
 * percent-encoding is checked in a second pass only when the path contains `%`.
 */
export function findPathViolation(path: string): PathViolation | undefined {
  if (path.charCodeAt(0) !== SLASH) return 'not_origin_form';
  let hasPercent = false;
  let emptySegment = false;
  let segmentStart = 1;
  // The end of a segment's name: a `;` starts path parameters, which servers such as
  // Tomcat strip, so `..;x` is a dot segment there.
  let nameEnd = -1;

  for (let index = 1; index <= path.length; index++) {
    const code = index === path.length ? SLASH : path.charCodeAt(index);
    if (code === SLASH) {
      const end = nameEnd === -1 ? index : nameEnd;
      if (isDotName(path, segmentStart, end)) return 'dot_segment';
      if (index === segmentStart && index < path.length) emptySegment = true;
      segmentStart = index + 1;
      nameEnd = -1;
    } else if (code === SEMICOLON) {
      if (nameEnd === -1) nameEnd = index;
    } else if (code === BACKSLASH) {
      return 'backslash';
    } else if (code < 0x20 || code > 0x7e) {
      return 'invalid_character';
    } else if (code === PERCENT) {
      hasPercent = true;
    }
  }

  if (hasPercent) {
    const violation = checkPercentEncoding(path);
    if (violation !== undefined) return violation;
  }
  return emptySegment ? 'empty_segment' : undefined;
}

function isDotName(path: string, start: number, end: number): boolean {
  const length = end - start;
  if (length === 1) return path.charCodeAt(start) === DOT;
  return length === 2 && path.charCodeAt(start) === DOT && path.charCodeAt(start + 1) === DOT;
}

function checkPercentEncoding(path: string): PathViolation | undefined {
  for (let index = path.indexOf('%'); index !== -1; index = path.indexOf('%', index + 1)) {
    const byte = hexByte(path, index + 1);
    if (byte === -1) return 'invalid_percent_encoding';
    if (byte < 0x20 || byte === 0x7f) return 'encoded_control';
    if (byte === SLASH || byte === BACKSLASH || byte === SEMICOLON) return 'encoded_separator';
    if (byte === DOT) return 'encoded_dot';
    if (byte === PERCENT && hexByte(path, index + 3) !== -1) return 'double_encoding';
  }
  // decodeURIComponent follows the UTF-8 decoder of ECMA-262, which rejects overlong forms
  // (%C0%AF for "/"), surrogates and truncated sequences.
  try {
    decodeURIComponent(path);
  } catch {
    return 'invalid_utf8';
  }
  return undefined;
}

/** Returns the byte two hex digits at `index` encode, or -1 when they are not hex digits. */
function hexByte(text: string, index: number): number {
  const high = hexValue(text.charCodeAt(index));
  const low = hexValue(text.charCodeAt(index + 1));
  return high === -1 || low === -1 ? -1 : high * 16 + low;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** Returns the path with every run of slashes replaced by one. */
export function mergeSlashes(path: string): string {
  return path.replace(/\/{2,}/g, '/');
}

/** RFC 9110 section 5.6.2 token characters, the grammar of a method. */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Tells whether a method is spelt as a client should send it: a token without lower-case
 * letters. Node's parser already rejects lower-case methods; other front ends may not.
 */
export function isWellFormedMethod(method: string): boolean {
  return METHOD_TOKEN.test(method) && method === method.toUpperCase();
}
