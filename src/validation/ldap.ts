/**
 * Escaping for the two places where user text reaches an LDAP server: a value inside a search
 * filter (RFC 4515) and an attribute value inside a distinguished name (RFC 4514). Escaping is
 * the prevention; the WAF guard's LDAP detector only spots attempts.
 */

import { InvalidArgumentError } from '../core/errors.js';

/** Characters a filter value must escape by RFC 4515 section 3, besides non-ASCII bytes. */
const FILTER_SPECIAL = new Set(['*', '(', ')', '\\', '\0']);

/** Characters RFC 4514 section 2.4 lets a DN escape with a backslash anywhere in a value. */
const DN_SPECIAL = new Set([',', '+', '"', '\\', '<', '>', ';', '=']);

/**
 * Escapes `value` for use as the assertion value of an LDAP search filter (RFC 4515), e.g.
 * `(uid=${escapeLdapFilterValue(name)})`.
 *
 * `*`, `(`, `)`, `\`, NUL, other ASCII control characters and every non-ASCII character
 * become `\xx`, one escape per UTF-8 byte. The result is plain printable ASCII, so a wildcard
 * or a closing parenthesis in user text can no longer change the filter.
 * Throws `InvalidArgumentError` on a string with a lone UTF-16 surrogate, which has no
 * UTF-8 form.
 */
export function escapeLdapFilterValue(value: string): string {
  assertWellFormed(value);
  let escaped = '';

  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (FILTER_SPECIAL.has(char) || isControl(code) || code > 0x7e) {
      escaped += hexEscape(char);
    } else {
      escaped += char;
    }
  }
  return escaped;
}

/**
 * Escapes `value` for use as an attribute value in a distinguished name (RFC 4514), e.g.
 * `cn=${escapeLdapDn(name)},ou=people,dc=example,dc=com`.
 *
 * `,` `+` `"` `\` `<` `>` `;` `=` get a backslash, as do a leading `#` or space and a trailing
 * space, so user text cannot add a relative distinguished name or an attribute. NUL and other
 * ASCII control characters become `\xx` (RFC 4514 writes a carriage return as `\0d`).
 * Other characters, non-ASCII included, stay as they are because RFC 4514 carries UTF-8 as is.
 * Throws `InvalidArgumentError` on a string with a lone UTF-16 surrogate.
 */
export function escapeLdapDn(value: string): string {
  assertWellFormed(value);
  const chars = [...value];
  let escaped = '';

  chars.forEach((char, index) => {
    const code = char.codePointAt(0) ?? 0;
    const leading = index === 0 && (char === '#' || char === ' ');
    const trailing = index === chars.length - 1 && char === ' ';

    if (isControl(code)) escaped += hexEscape(char);
    else if (leading || trailing || DN_SPECIAL.has(char)) escaped += `\\${char}`;
    else escaped += char;
  });
  return escaped;
}

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

function hexEscape(char: string): string {
  let escaped = '';
  for (const byte of Buffer.from(char, 'utf8'))
    escaped += `\\${byte.toString(16).padStart(2, '0')}`;
  return escaped;
}

// A lone surrogate would be encoded as U+FFFD, so the server would see a different value
// than the caller passed.
function assertWellFormed(value: string): void {
  if (typeof value !== 'string') throw new InvalidArgumentError('LDAP value must be a string');
  if (Buffer.from(value, 'utf8').toString('utf8') !== value) {
    throw new InvalidArgumentError('LDAP value contains a lone UTF-16 surrogate');
  }
}
