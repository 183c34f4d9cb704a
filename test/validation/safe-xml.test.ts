import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  parseXmlSafely,
  XmlRejectedError,
  type XmlRejection,
} from '../../src/validation/safe-xml.js';

function rejection(run: () => unknown): XmlRejection | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof XmlRejectedError) return error.reason;
    throw error;
  }
  return undefined;
}

const XXE = `<?xml version="1.0"?>
<!DOCTYPE order [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<order><note>&xxe;</note></order>`;

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>`;

describe('parseXmlSafely', () => {
  it('parses a normal document', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<order id="42">
  <customer>Ada &amp; Co &lt;ltd&gt;</customer>
  <item sku="A1">2</item>
  <item sku="B7">10</item>
  <!-- a comment -->
  <note><![CDATA[<b>bold</b>]]></note>
</order>`;

    const document = parseXmlSafely(xml) as { order: Record<string, unknown> };

    expect(document.order['@_id']).toBe('42');
    expect(document.order.customer).toBe('Ada & Co <ltd>');
    expect(document.order.item).toEqual([
      { '#text': '2', '@_sku': 'A1' },
      { '#text': '10', '@_sku': 'B7' },
    ]);
    expect(document.order.note).toBe('<b>bold</b>');
  });

  it('parses a byte buffer', () => {
    expect(parseXmlSafely(Buffer.from('<a>é</a>'))).toEqual({ a: 'é' });
  });

  it('rejects an external entity without reading it', () => {
    expect(rejection(() => parseXmlSafely(XXE))).toBe('doctype');
  });

  it('rejects billion laughs', () => {
    expect(rejection(() => parseXmlSafely(BILLION_LAUGHS))).toBe('doctype');
  });

  it('rejects a DOCTYPE without entities', () => {
    expect(rejection(() => parseXmlSafely('<!DOCTYPE a SYSTEM "a.dtd"><a/>'))).toBe('doctype');
    expect(rejection(() => parseXmlSafely('<!doctype a><a/>'))).toBe('doctype');
  });

  it('rejects a parameter entity', () => {
    const xml = '<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1/x.dtd"> %p;]><a/>';

    expect(rejection(() => parseXmlSafely(xml))).toBe('doctype');
  });

  it('leaves an undeclared entity unexpanded', () => {
    expect(parseXmlSafely('<a>&xxe;</a>')).toEqual({ a: '&xxe;' });
  });

  it('bounds predefined entity expansions', () => {
    const xml = `<a>${'&amp;'.repeat(101)}</a>`;

    expect(parseXmlSafely(xml, { maxEntityExpansions: 101 })).toEqual({ a: '&'.repeat(101) });
    expect(rejection(() => parseXmlSafely(xml, { maxEntityExpansions: 100 }))).toBe('entity_limit');
  });

  it('bounds the size in bytes', () => {
    const xml = `<a>${'é'.repeat(50)}</a>`;

    expect(rejection(() => parseXmlSafely(xml, { maxBytes: 100 }))).toBe('too_large');
    expect(rejection(() => parseXmlSafely(Buffer.from(xml), { maxBytes: 100 }))).toBe('too_large');
    expect(parseXmlSafely(xml, { maxBytes: 107 })).toEqual({ a: 'é'.repeat(50) });
  });

  it('bounds the nesting depth', () => {
    const nested = (depth: number): string => '<a>'.repeat(depth) + 'x' + '</a>'.repeat(depth);

    expect(parseXmlSafely(nested(5), { maxDepth: 5 })).toBeDefined();
    expect(rejection(() => parseXmlSafely(nested(6), { maxDepth: 5 }))).toBe('too_deep');
    expect(rejection(() => parseXmlSafely(nested(20_000)))).toBe('too_deep');
  });

  const malformed: [string, string][] = [
    ['unclosed element', '<a><b></a>'],
    ['two roots', '<a/><b/>'],
    ['repeated root', '<a/><a/>'],
    ['text only', 'hello'],
    ['empty input', ''],
    ['bad attribute', '<a x=1/>'],
  ];

  it.each(malformed)('rejects %s', (_title, xml) => {
    expect(rejection(() => parseXmlSafely(xml))).toBe('malformed');
  });

  it('keeps the document out of the message', () => {
    try {
      parseXmlSafely('<secret-tag><b></secret-tag>');
      expect.unreachable();
    } catch (error) {
      expect((error as XmlRejectedError).code).toBe('BWK_ERR_XML_REJECTED');
      expect((error as Error).message).not.toContain('secret-tag');
    }
  });

  it('rejects invalid options', () => {
    expect(() => parseXmlSafely('<a/>', { maxBytes: 0 })).toThrow(InvalidArgumentError);
  });
});
