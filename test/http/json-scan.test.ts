import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { lineAndColumn, scanJson, type JsonLimits } from '../../src/http/json-scan.js';

const OPEN: JsonLimits = {
  maxDepth: 1000,
  maxKeys: 1_000_000,
  maxStringLength: 1_000_000,
  duplicateKeys: 'allow',
};

const scan = (text: string, limits: Partial<JsonLimits> = {}) =>
  scanJson(Buffer.from(text, 'utf8'), { ...OPEN, ...limits });

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('JSON scanner', () => {
  it('accepts what JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'medium' }), (text) => {
        expect(scan(text)).toBeUndefined();
      }),
    );
  });

  it('agrees with JSON.parse on any text', () => {
    // Random text, and JSON with one byte removed or changed, which lands near valid input.
    const mutated = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', '"', '}', ']', '\\', '0', '-', 'e', ' '))
      .map(([text, at, insert]) => {
        const index = at % (text.length + 1);
        return text.slice(0, index) + insert + text.slice(index + 1);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), mutated), (text) => {
        // The scanner reads bytes, so compare on the text those bytes decode to.
        const decoded = Buffer.from(text, 'utf8').toString('utf8');
        expect(scan(text) === undefined, JSON.stringify(text)).toBe(parses(decoded));
      }),
      { numRuns: 2000 },
    );
  });

  const syntaxCases: Array<[string, string, string, number]> = [
    ['empty body', '', 'unexpected end of input', 0],
    ['trailing comma', '[1,]', 'expected a value', 3],
    ['single quotes', "{'a':1}", 'expected a string as member name', 1],
    ['leading zero', '[01]', 'expected "," or "]"', 2],
    ['bare decimal point', '1.', 'invalid number', 2],
    ['raw newline in string', '"a\nb"', 'control character in string', 2],
    ['bad escape', '"\\x41"', 'invalid escape in string', 1],
    ['short unicode escape', '"\\u12"', 'invalid \\u escape in string', 1],
    ['unterminated string', '{"a', 'unterminated string', 1],
    ['missing colon', '{"a" 1}', 'expected ":" after member name', 5],
    ['two documents', '{} {}', 'unexpected data after the JSON value', 3],
    ['unclosed object', '{"a":1', 'unexpected end of input', 6],
  ];
  for (const [name, text, message, position] of syntaxCases) {
    it(`rejects ${name}`, () => {
      expect(scan(text)).toEqual({ kind: 'syntax', message, position });
    });
  }

  it('rejects invalid UTF-8', () => {
    const bytes = Buffer.from([0x22, 0xc3, 0x28, 0x22]);

    expect(scanJson(bytes, OPEN)).toMatchObject({
      kind: 'syntax',
      message: 'the body is not valid UTF-8',
    });
  });

  it('depth limit stops deep nesting', () => {
    // A million levels: the scanner stops at the limit without building anything.
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);

    expect(scan(deep, { maxDepth: 64 })).toEqual({
      kind: 'limit',
      limit: 'maxDepth',
      max: 64,
      position: 64,
    });
    expect(scan('[[[1]]]', { maxDepth: 3 })).toBeUndefined();
  });

  it('key limit counts per object', () => {
    expect(scan('{"a":{"x":1,"y":2},"b":{"x":1,"y":2}}', { maxKeys: 2 })).toBeUndefined();
    expect(scan('{"a":1,"b":2,"c":3}', { maxKeys: 2 })).toMatchObject({
      limit: 'maxKeys',
      position: 13,
    });
  });

  it('string limit counts characters', () => {
    // Four characters of two, three and four UTF-8 bytes, and an escape.
    expect(scan('"é€😀\\n"', { maxStringLength: 4 })).toBeUndefined();
    expect(scan('"é€😀\\nx"', { maxStringLength: 4 })).toMatchObject({ limit: 'maxStringLength' });
    expect(scan('{"long-key":1}', { maxStringLength: 4 })).toMatchObject({
      limit: 'maxStringLength',
      position: 1,
    });
  });

  it('duplicate names compared decoded', () => {
    expect(scan('{"a":1,"\\u0061":2}', { duplicateKeys: 'reject' })).toMatchObject({
      limit: 'duplicateKeys',
      position: 7,
    });
    expect(scan('{"a":{"a":1}}', { duplicateKeys: 'reject' })).toBeUndefined();
    expect(scan('{"a":1,"a":2}', { duplicateKeys: 'allow' })).toBeUndefined();
  });

  it('duplicates found however escaped', () => {
    // Names from a small alphabet repeat often; each is written raw or fully \u-escaped.
    const name = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '€', '😀'), maxLength: 20 });
    const member = fc.tuple(name, fc.boolean());
    fc.assert(
      fc.property(fc.array(member, { maxLength: 12 }), (members) => {
        const text = members
          .map(([key, escape]) => {
            const written = escape
              ? [...key]
                  .map((char) =>
                    JSON.stringify(char)
                      .slice(1, -1)
                      .replace(
                        /[^\\]/g,
                        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
                      ),
                  )
                  .join('')
              : key;
            return `"${written}":0`;
          })
          .join(',');
        const names = members.map(([key]) => key);
        const failure = scan(`{${text}}`, { duplicateKeys: 'reject' });

        expect(failure?.kind === 'limit' && failure.limit === 'duplicateKeys').toBe(
          new Set(names).size !== names.length,
        );
      }),
    );
  });

  it('line and column of position', () => {
    const body = Buffer.from('{\n  "a": x\n}');

    expect(lineAndColumn(body, 8)).toEqual({ line: 2, column: 7 });
  });
});
