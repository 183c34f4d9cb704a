import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/core/errors.js';
import { escapeLdapDn, escapeLdapFilterValue } from '../../src/validation/ldap.js';

// RFC 4515 and RFC 4514 write hex digits in either case; the escapers emit lower case.
describe('escapeLdapFilterValue', () => {
  it('matches the examples of RFC 4515 section 4', () => {
    expect(escapeLdapFilterValue('Parens R Us (for all your parenthetical needs)')).toBe(
      'Parens R Us \\28for all your parenthetical needs\\29',
    );
    expect(escapeLdapFilterValue('*')).toBe('\\2a');
    expect(escapeLdapFilterValue('C:\\MyFile')).toBe('C:\\5cMyFile');
    expect(escapeLdapFilterValue('\0\0\0\u0004')).toBe('\\00\\00\\00\\04');
    expect(escapeLdapFilterValue('Lučić')).toBe('Lu\\c4\\8di\\c4\\87');
  });

  it('neutralises a filter injection', () => {
    const escaped = escapeLdapFilterValue('admin)(|(uid=*');

    expect(escaped).toBe('admin\\29\\28|\\28uid=\\2a');
    expect(escaped).not.toMatch(/[()*]/);
  });

  it('escapes every UTF-8 byte of a non-ASCII character', () => {
    expect(escapeLdapFilterValue('€')).toBe('\\e2\\82\\ac');
    expect(escapeLdapFilterValue('😀')).toBe('\\f0\\9f\\98\\80');
  });

  it('escapes control characters and DEL', () => {
    expect(escapeLdapFilterValue('a\nb\u007f')).toBe('a\\0ab\\7f');
  });

  it('leaves other printable ASCII as is', () => {
    const printable = 'abcXYZ019 !"#$%&\'+,-./:;<=>?@[]^_`{|}~';

    expect(escapeLdapFilterValue(printable)).toBe(printable);
  });

  it('rejects a lone surrogate', () => {
    expect(() => escapeLdapFilterValue('a\ud800b')).toThrow(InvalidArgumentError);
  });
});

describe('escapeLdapDn', () => {
  it('matches the examples of RFC 4514 section 4', () => {
    expect(escapeLdapDn('James "Jim" Smith, III')).toBe('James \\"Jim\\" Smith\\, III');
    expect(escapeLdapDn('Before\rAfter')).toBe('Before\\0dAfter');
    expect(escapeLdapDn('#04024869')).toBe('\\#04024869');
    expect(escapeLdapDn('J.  Smith')).toBe('J.  Smith');
  });

  it('escapes each special character', () => {
    expect(escapeLdapDn('a,b+c"d\\e<f>g;h=i')).toBe('a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i');
  });

  it('escapes leading and trailing spaces only', () => {
    expect(escapeLdapDn(' a b ')).toBe('\\ a b\\ ');
    expect(escapeLdapDn(' ')).toBe('\\ ');
    expect(escapeLdapDn('   ')).toBe('\\  \\ ');
  });

  it('escapes # only at the start', () => {
    expect(escapeLdapDn('a#b')).toBe('a#b');
  });

  it('escapes NUL as hex', () => {
    expect(escapeLdapDn('a\0b')).toBe('a\\00b');
  });

  it('keeps non-ASCII characters as UTF-8', () => {
    expect(escapeLdapDn('Lučić')).toBe('Lučić');
  });

  it('neutralises an added RDN', () => {
    expect(escapeLdapDn('bob,ou=admins')).toBe('bob\\,ou\\=admins');
  });

  it('rejects a lone surrogate', () => {
    expect(() => escapeLdapDn('\udc00')).toThrow(InvalidArgumentError);
  });
});
