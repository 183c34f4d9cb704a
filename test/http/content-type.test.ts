import { describe, expect, it } from 'vitest';

import {
  matchesAny,
  parseMediaRange,
  parseMediaType,
  syntaxOf,
  type MediaRange,
} from '../../src/http/content-type.js';

function ranges(...texts: string[]): MediaRange[] {
  return texts.map((text) => parseMediaRange(text)!);
}

describe('media types', () => {
  it('parses type, subtype and charset', () => {
    expect(parseMediaType('Application/JSON; Charset="UTF-8"; q=1')).toEqual({
      essence: 'application/json',
      type: 'application',
      subtype: 'json',
      charset: 'utf-8',
    });
  });

  it('rejects malformed values', () => {
    for (const value of [
      undefined,
      '',
      'json',
      'application/',
      '/json',
      'a b/c',
      'x/'.repeat(600),
    ]) {
      expect(parseMediaType(value), String(value).slice(0, 20)).toBeUndefined();
    }
  });

  it('ranges match exact, wildcard and suffix', () => {
    const json = parseMediaType('application/json')!;
    const vendor = parseMediaType('application/vnd.shop+json')!;
    const csv = parseMediaType('text/csv')!;

    expect(matchesAny(json, ranges('application/json'))).toBe(true);
    expect(matchesAny(vendor, ranges('application/json'))).toBe(false);
    expect(matchesAny(vendor, ranges('application/*+json'))).toBe(true);
    expect(matchesAny(csv, ranges('text/*'))).toBe(true);
    expect(matchesAny(csv, ranges('*/*'))).toBe(true);
    expect(matchesAny(csv, ranges('application/*'))).toBe(false);
  });

  it('rejects malformed ranges', () => {
    for (const text of ['json', '*/json', 'application/json; charset=utf-8', '']) {
      expect(parseMediaRange(text), text).toBeUndefined();
    }
  });

  it('names checkable syntaxes', () => {
    expect(syntaxOf(parseMediaType('application/json'))).toBe('json');
    expect(syntaxOf(parseMediaType('application/problem+json'))).toBe('json');
    expect(syntaxOf(parseMediaType('application/x-www-form-urlencoded'))).toBe('form');
    expect(syntaxOf(parseMediaType('multipart/form-data; boundary=x'))).toBeUndefined();
    expect(syntaxOf(undefined)).toBeUndefined();
  });
});
