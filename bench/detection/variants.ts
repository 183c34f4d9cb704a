/**
 * Evasion variants of an attack payload, as a client would send them in a field value.
 * Comment insertion changes the meaning of any payload but SQL, so it applies to SQL
 * injection only. Mixed case applies to every family, although it changes what a payload
 * does where names are case sensitive.
 */

export interface Variant {
  readonly name: string;
  /** Families the variant is applied to. */
  readonly families: readonly string[] | 'all';
  readonly apply: (payload: string) => string;
}

/** Percent-encodes every byte that is not unreserved in RFC 3986, as encodeURIComponent. */
function urlEncode(payload: string): string {
  try {
    return encodeURIComponent(payload);
  } catch {
    // A lone surrogate cannot be encoded, so the payload is sent as it is.
    return payload;
  }
}

/** Upper-cases every other letter: `select` becomes `SeLeCt`. */
function mixCase(payload: string): string {
  let upper = true;
  let out = '';
  for (const ch of payload) {
    if (/[a-z]/i.test(ch)) {
      out += upper ? ch.toUpperCase() : ch.toLowerCase();
      upper = !upper;
    } else {
      out += ch;
    }
  }
  return out;
}

/** Replaces each run of spaces with an inline SQL comment, which SQL parsers read as a space. */
function insertComments(payload: string): string {
  return payload.replace(/ +/g, '/**/');
}

export const variants: readonly Variant[] = [
  { name: 'url-encoded', families: 'all', apply: urlEncode },
  { name: 'double-encoded', families: 'all', apply: (payload) => urlEncode(urlEncode(payload)) },
  // Keywords of SQL, HTML and LDAP attribute names ignore case. XML names, Unix file names and
  // commands, and MongoDB operators do not, so there the variant is often no attack at all:
  // it measures only whether a detector ignores case.
  { name: 'mixed-case', families: 'all', apply: mixCase },
  { name: 'comment-inserted', families: ['sqli'], apply: insertComments },
];
