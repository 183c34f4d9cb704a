import { describe, expect, it } from 'vitest';

import { detectNosql } from '../../../src/validation/waf/nosql.js';
import type { DetectContext } from '../../../src/validation/waf/types.js';

const level1: DetectContext = { paranoia: 1, strict: false };
const ids = (input: string, context: DetectContext = level1): string[] =>
  detectNosql(input, context).map((hit) => hit.ruleId);

describe('detectNosql', () => {
  it.each([
    ['{"$gt": ""}', 'nosql-001-operator-object'],
    ['{ $ne: 1 }', 'nosql-001-operator-object'],
    ["', $where: '1 == 1'", 'nosql-002-operator-key'],
    ["', $or: [ {}, { 'a':'a", 'nosql-002-operator-key'],
    ['[$ne]=1', 'nosql-003-bracket-operator'],
    ["';return true;var a='", 'nosql-004-js-return'],
    ["' && this.password.match(/.*/)//", 'nosql-005-js-this'],
    ['db.injection.insert({success:1});', 'nosql-006-db-call'],
    ["';sleep(5000);", 'nosql-007-js-delay'],
  ])('detects %j at paranoia 1', (input, ruleId) => {
    expect(ids(input)).toContain(ruleId);
  });

  it('return statement at paranoia 2', () => {
    const code = 'function f() { a++; return 0; }';

    expect(ids(code)).toEqual([]);
    expect(ids(code, { paranoia: 2, strict: false })).toContain('nosql-013-js-return-in-text');
    expect(ids('0;return true')).toContain('nosql-004-js-return');
  });

  it('reports MongoDB code in prose from paranoia 2', () => {
    const question = 'Why is db.users.find() slow?';

    expect(ids(question)).toEqual([]);
    expect(ids(question, { paranoia: 2, strict: false })).toContain('nosql-014-js-in-text');
  });

  it('reports a JavaScript tautology from paranoia 2', () => {
    expect(ids("x' || 'a'=='a' || 'x")).toEqual([]);
    expect(ids("x' || 'a'=='a' || 'x", { paranoia: 2, strict: false })).toContain(
      'nosql-008-js-tautology',
    );
  });

  it.each([
    '$100 off orders over $500',
    'Total: $5; shipping $2',
    '{"note": "nested json as a string"}',
    'price >= 10 and price <= 20',
  ])('passes %j', (input) => {
    expect(ids(input, { paranoia: 4, strict: false })).toEqual([]);
  });
});
