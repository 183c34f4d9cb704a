import { describe, expect, it } from 'vitest';

import {
  decodeFully,
  decodeHtmlEntities,
  decodeJsEscapes,
  decodeVariants,
  urlDecodeOnce,
  urlDecodeRepeated,
} from '../../../src/validation/waf/decode.js';

describe('urlDecodeOnce', () => {
  it('decodes percent escapes as UTF-8', () => {
    expect(urlDecodeOnce('%3Cscript%3E')).toBe('<script>');
    expect(urlDecodeOnce('caf%C3%A9')).toBe('café');
  });

  it('decodes %u escapes', () => {
    expect(urlDecodeOnce('%u003Cb%u003E')).toBe('<b>');
    expect(urlDecodeOnce('%uff0e%uff0e')).toBe('\uff0e\uff0e');
  });

  it('reads overlong UTF-8 as the ASCII it spells', () => {
    expect(urlDecodeOnce('%c0%ae%c0%ae%c0%af')).toBe('../');
    expect(urlDecodeOnce('%e0%80%ae')).toBe('.');
    expect(urlDecodeOnce('%f0%80%80%ae')).toBe('.');
    expect(urlDecodeOnce('%c1%9c')).toBe('\\');
  });

  it('lenient IIS overlong slash', () => {
    expect(urlDecodeOnce('%c1%af')).toBe('/');
    expect(urlDecodeOnce('%c0%2e')).toBe('.');
  });

  it('keeps a percent sign that starts no escape', () => {
    expect(urlDecodeOnce('100% cotton')).toBe('100% cotton');
    expect(urlDecodeOnce('%zz%4')).toBe('%zz%4');
  });
});

describe('urlDecodeRepeated', () => {
  it('undoes double and triple encoding', () => {
    expect(urlDecodeRepeated('%252e%252e%252f')).toBe('../');
    expect(urlDecodeRepeated('%25252e')).toBe('.');
  });

  it('stops after a bounded number of rounds', () => {
    let deep = '.';
    for (let i = 0; i < 10; i++) deep = encodeURIComponent(deep).replaceAll('.', '%2e');

    expect(urlDecodeRepeated(deep)).not.toBe('.');
  });

  it('builds an escape from a split one (%%35%63)', () => {
    expect(urlDecodeRepeated('%%35%63')).toBe('\\');
  });
});

describe('decodeHtmlEntities', () => {
  it('decodes named, decimal and hex entities', () => {
    expect(decodeHtmlEntities('&lt;a&gt; &#60; &#x3c; &quot;')).toBe('<a> < < "');
  });

  it('decodes entities without a semicolon', () => {
    expect(decodeHtmlEntities('javascript&#58alert&#x28;1&#41')).toBe('javascript:alert(1)');
    expect(decodeHtmlEntities('&lt')).toBe('<');
  });

  it('leaves unknown names and longer words alone', () => {
    expect(decodeHtmlEntities('Ben &amplifier and &unknown;')).toBe('Ben &amplifier and &unknown;');
    expect(decodeHtmlEntities('AT&T')).toBe('AT&T');
  });
});

describe('decodeJsEscapes', () => {
  it('decodes \\u, \\u{} and \\x escapes', () => {
    expect(decodeJsEscapes('\\u003cscript\\u003e')).toBe('<script>');
    expect(decodeJsEscapes('\\u{2f}etc\\x2fpasswd')).toBe('/etc/passwd');
  });

  it('decodes control escapes but not octal ones', () => {
    expect(decodeJsEscapes('a\\nid')).toBe('a\nid');
    expect(decodeJsEscapes('\\033[2A')).toBe('\\033[2A');
  });
});

describe('decodeFully', () => {
  it('undoes URL encoding inside HTML entities', () => {
    expect(decodeFully('&#37;3Cscript&#37;3E')).toBe('<script>');
  });

  it('undoes HTML entities inside URL encoding', () => {
    expect(decodeFully('%26lt%3Bscript%26gt%3B')).toBe('<script>');
  });

  it('plus as space when form-encoded', () => {
    expect(decodeFully('1+OR+1%3D1')).toBe('1 OR 1=1');
  });

  it('keeps + in a value without escapes', () => {
    expect(decodeFully('john.doe+orders@example.co.uk')).toBe('john.doe+orders@example.co.uk');
    expect(decodeVariants('+1 (555) 010-4477')).toEqual(['+1 (555) 010-4477']);
  });

  it('removes NUL bytes', () => {
    expect(decodeFully('/etc/passwd%00.jpg')).toBe('/etc/passwd.jpg');
  });

  it('folds fullwidth forms with NFKC', () => {
    expect(decodeFully('\uff1cscript\uff1e')).toBe('<script>');
    expect(decodeFully('%uff0e%uff0e/')).toBe('../');
  });
});

describe('decodeVariants', () => {
  it('unencoded value returns raw only', () => {
    expect(decodeVariants('plain text, nothing to see')).toEqual(['plain text, nothing to see']);
    expect(decodeVariants('Ben & Jerry')).toEqual(['Ben & Jerry']);
  });

  it('raw value first, distinct forms after', () => {
    const variants = decodeVariants('%253Cb%253E&amp;');

    expect(variants[0]).toBe('%253Cb%253E&amp;');
    expect(variants).toContain('<b>&');
    expect(new Set(variants).size).toBe(variants.length);
    expect(variants.length).toBeLessThanOrEqual(3);
  });

  it('NFKC falls back to fullwidth folding', () => {
    const padding = '\ufdfa'.repeat(100);

    expect(decodeFully(`${padding}\uff1cscript\uff1e`)).toBe(`${padding}<script>`);
  });

  it('never grows an ASCII value', () => {
    const value = '%41'.repeat(10_000);

    for (const variant of decodeVariants(value))
      expect(variant.length).toBeLessThanOrEqual(value.length);
  });
});
