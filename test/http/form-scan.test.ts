import { describe, expect, it } from 'vitest';

import { scanForm, type FormLimits } from '../../src/http/form-scan.js';

const LIMITS: FormLimits = { maxFields: 10, maxStringLength: 32 };

function pairs(text: string, limits = LIMITS): Array<[string, string]> {
  const seen: Array<[string, string]> = [];
  const failure = scanForm(Buffer.from(text), limits, (name, value) => seen.push([name, value]));
  expect(failure).toBeUndefined();
  return seen;
}

describe('form scanner', () => {
  it('decodes pairs like URLSearchParams', () => {
    const text = 'a=1&b=two+words&c=%C3%A9&empty=&flag&&d=x%3Dy';

    expect(pairs(text)).toEqual([...new URLSearchParams(text)]);
  });

  it('accepts an empty body', () => {
    expect(scanForm(Buffer.alloc(0), LIMITS)).toBeUndefined();
  });

  const invalid: Array<[string, string, string, number]> = [
    ['stray percent', 'a=100%', 'invalid percent-encoding', 5],
    ['non-hex escape', 'a=%zz', 'invalid percent-encoding', 2],
    ['escape cut by ampersand', 'a=%4&b=1', 'invalid percent-encoding', 2],
    ['escape of invalid UTF-8', 'a=%C3%28', 'a name or value is not valid UTF-8', 2],
    ['raw invalid UTF-8 in name', 'b=1&\xff=1', 'a name or value is not valid UTF-8', 4],
  ];
  for (const [name, text, message, position] of invalid) {
    it(`rejects ${name}`, () => {
      expect(scanForm(Buffer.from(text, 'latin1'), LIMITS)).toEqual({
        kind: 'syntax',
        message,
        position,
      });
    });
  }

  it('field limit counts pairs', () => {
    expect(scanForm(Buffer.from('a=1&b=2'), { ...LIMITS, maxFields: 2 })).toBeUndefined();
    expect(scanForm(Buffer.from('a=1&b=2&c=3'), { ...LIMITS, maxFields: 2 })).toEqual({
      kind: 'limit',
      limit: 'maxFields',
      max: 2,
      position: 8,
    });
  });

  it('length limit counts decoded bytes', () => {
    expect(scanForm(Buffer.from('a=%41%41%41'), { ...LIMITS, maxStringLength: 3 })).toBeUndefined();
    expect(
      scanForm(Buffer.from('a=%41%41%41%41'), { ...LIMITS, maxStringLength: 3 }),
    ).toMatchObject({
      limit: 'maxStringLength',
      position: 2,
    });
  });
});
