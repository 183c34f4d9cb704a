/**
 * Reads API versions from an `Accept` header. Two spellings are accepted, with any
 * structured syntax suffix (`+json`, `+xml`) or none:
 *
 * - `application/vnd.acme+json; version=2` (a `version` media type parameter), and
 * - `application/vnd.acme.v2+json` (the version in the subtype, as GitHub's API once used).
 *
 * Other media ranges, such as `application/json` or `*\/*`, name no version.
 */

/** A version named by one media range, with the range's quality value. */
export interface AcceptedVersion {
  /** Lower case, because media types and parameter names are case-insensitive. */
  name: string;
  quality: number;
}

/** Media ranges beyond this count are ignored, so a huge Accept header costs bounded work. */
const MAX_RANGES = 64;

const QUALITY = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/;
const STARTS_WITH_DIGIT = /^[0-9]/;

/**
 * Returns the versions the vendor's media ranges name, in header order, leaving out ranges
 * with `q=0` (RFC 9110 section 12.4.2: not acceptable). Returns undefined when no range names
 * one, and `conflict` when one range names two different versions.
 *
 * In the subtype form, `vnd.acme.v<name>` counts only when `isKnown(name)` or the name starts
 * with a digit, so that another media type of the same vendor, such as
 * `application/vnd.acme.video+json`, is not read as version `ideo`.
 */
export function versionFromAccept(
  accept: string | string[],
  vendor: string,
  isKnown: (name: string) => boolean,
): AcceptedVersion[] | 'conflict' | undefined {
  const text = (Array.isArray(accept) ? accept.join(',') : accept).toLowerCase();
  const base = `application/vnd.${vendor}`;
  if (!text.includes(base)) return undefined;

  const found: AcceptedVersion[] = [];
  for (const range of text.split(',', MAX_RANGES)) {
    const [typeText = '', ...params] = range.split(';');
    const type = typeText.trim();
    if (!type.startsWith(base)) continue;
    const fromSubtype = subtypeVersion(type.slice(base.length), isKnown);
    if (fromSubtype === null) continue;

    const { version: fromParameter, quality } = readParameters(params);
    if (fromSubtype !== undefined && fromParameter !== undefined && fromSubtype !== fromParameter)
      return 'conflict';
    const name = fromSubtype ?? fromParameter;
    if (name === undefined || name === '' || quality === 0) continue;
    found.push({ name, quality });
  }
  return found.length === 0 ? undefined : found;
}

/**
 * Reads what follows `application/vnd.<vendor>` in a media type: undefined for no version in
 * the subtype, the name for `.v<name>`, or null when the media type is another one (such as
 * `vnd.acmecorp` for vendor `acme`).
 */
function subtypeVersion(
  rest: string,
  isKnown: (name: string) => boolean,
): string | null | undefined {
  const plus = rest.indexOf('+');
  const core = plus === -1 ? rest : rest.slice(0, plus);
  if (core === '') return undefined;
  if (!core.startsWith('.v')) return null;
  const name = core.slice(2);
  return isKnown(name) || STARTS_WITH_DIGIT.test(name) ? name : null;
}

function readParameters(params: readonly string[]): { version?: string; quality: number } {
  let version: string | undefined;
  let quality = 1;
  for (const param of params) {
    const equals = param.indexOf('=');
    if (equals === -1) continue;
    const key = param.slice(0, equals).trim();
    let value = param.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1);
    if (key === 'version') version = value;
    // An invalid weight is read as 1, the default, rather than rejecting the request.
    else if (key === 'q' && QUALITY.test(value)) quality = Number(value);
  }
  return { version, quality };
}
