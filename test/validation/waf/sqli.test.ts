import { describe, expect, it } from 'vitest';

import { detectSqli, MAX_SQL_INPUT } from '../../../src/validation/waf/sqli.js';
import { MAX_SQL_TOKENS, tokenizeSql } from '../../../src/validation/waf/sql-tokenizer.js';
import type { DetectContext, Paranoia } from '../../../src/validation/waf/types.js';

const level = (paranoia: Paranoia): DetectContext => ({ paranoia, strict: false });
const strict: DetectContext = { paranoia: 1, strict: true };

function rules(input: string, context: DetectContext = level(1)): string[] {
  return detectSqli(input, context)
    .filter((hit) => hit.score > 0)
    .map((hit) => hit.ruleId)
    .sort();
}

/** Titled attack fixtures, each with one rule it must raise at paranoia 1. */
const attacks: ReadonlyArray<readonly [string, string, string]> = [
  ['quoted tautology', "' or '1'='1", 'sqli-004-tautology'],
  ['numeric tautology', '1 or 1=1', 'sqli-004-tautology'],
  ['tautology in parentheses', "') or ('x')=('x", 'sqli-004-tautology'],
  ['double-quoted tautology', '" or "a"="a', 'sqli-004-tautology'],
  ['comment after the quote', "admin'--", 'sqli-006-comment-truncation'],
  ['hash comment after the quote', "admin' #", 'sqli-006-comment-truncation'],
  ['union select', "' UNION ALL SELECT NULL, @@version --", 'sqli-001-union-select'],
  ['union select in a number', '-1 UNION SELECT 1,2,3--+', 'sqli-001-union-select'],
  ['stacked drop', "'; DROP TABLE users; --", 'sqli-002-stacked-statement'],
  ['batch without semicolon', "' exec master..xp_cmdshell 'dir' --", 'sqli-002-stacked-statement'],
  ['sleep after or', "' or sleep(5)='", 'sqli-003-time-delay'],
  ['waitfor delay', "'; waitfor delay '0:0:5'--", 'sqli-002-stacked-statement'],
  ['waitfor without semicolon', "') waitfor delay '0:0:20' --", 'sqli-003-time-delay'],
  ['benchmark appended', ' and 0=benchmark(3000000,MD5(1))--', 'sqli-003-time-delay'],
  ['pg_sleep alone', 'pg_sleep(5)', 'sqli-003-time-delay'],
  ['order by probe', "1' ORDER BY 3--+", 'sqli-007-clause-injection'],
  [
    'function after the quote',
    "'||utl_http.request('http://192.0.2.1/')||'",
    'sqli-008-function-injection',
  ],
  ['quote equals quote', "'='", 'sqli-009-quoted-tautology'],
  ['subquery comparison', "' and 1=(select count(*) from users); --", 'sqli-010-subquery'],
  ['whole statement', 'select * from pg_shadow;', 'sqli-011-statement'],
  ['appended like wildcard', " like '%'", 'sqli-012-appended-tautology'],
  ['appended boolean', ' AND 1=0', 'sqli-005-boolean-condition'],
  ['typographic quotes', '’ or ‘1’=’1', 'sqli-004-tautology'],
];

describe('sqli detector', () => {
  it.each(attacks)('%s raises its rule', (_title, input, ruleId) => {
    expect(rules(input)).toContain(ruleId);
  });

  it.each(attacks)('%s scores critical', (_title, input) => {
    const scores = detectSqli(input, level(1)).map((hit) => hit.score);
    expect(Math.max(...scores)).toBe(5);
  });

  it('mixed case is the same attack', () => {
    expect(rules("' Or '1'='1")).toEqual(rules("' or '1'='1"));
    expect(rules("' uNiOn SeLeCt null--")).toContain('sqli-001-union-select');
  });

  it('empty comments between tokens', () => {
    expect(rules("'/**/or/**/1=1--")).toContain('sqli-004-tautology');
    expect(rules('1/**/UNION/**/SELECT/**/password/**/FROM/**/users')).toContain(
      'sqli-001-union-select',
    );
  });

  it('executable comment hides keywords', () => {
    expect(rules("' /*!50000UNION*/ /*!SELECT*/ 1--")).toContain('sqli-001-union-select');
  });

  it('hex literal in a tautology', () => {
    expect(rules("' or 0x41=0x41 --")).toContain('sqli-004-tautology');
  });
});

/** Realistic API values that must pass at paranoia 1 in a free-text field. */
const benign = [
  "O'Brien",
  "Conan O'Brien",
  "Rock 'n' Roll Hall of Fame",
  "It's 5 o'clock somewhere",
  'select your plan',
  'Select your plan: Basic, Pro, or Enterprise',
  'SELECT a shipping option at checkout',
  '1=1 is true',
  '5 > 3 and 2 < 4',
  'price >= 10 and price <= 20',
  '1 OR 2 bedrooms, budget < $2,000/month',
  'Please drop the package at the back door -- thanks!',
  'We should union our efforts and delete the duplicate tickets.',
  'Union Station, Washington, DC',
  'Order by date, then by name',
  'Sleep well and wake up refreshed',
  'john.doe+orders@example.co.uk',
  'Markdown: **bold**, _italic_, `code`, [link](https://example.com)',
  'He said "hello" and left; she replied \'bye\'.',
  "' '",
  '--',
  'Where is my order #4521? It said 2-3 days.',
  "the kids' group by age",
  '2024-01-02',
  "He said 'or' not 'and'",
  "Tom's and Jerry's",
  "I'm 5'10\" and 180lbs",
  "'yes' or 'no'",
  '(select one)',
  'SELECT * FROM the menu please',
  'Sinéad O’Connor',
];

describe('sqli false positives', () => {
  it.each(benign)('passes %j', (input) => {
    expect(rules(input)).toEqual([]);
  });
});

describe('sqli paranoia levels', () => {
  it('lone tautology from level 2', () => {
    expect(rules('1=1 is true', level(1))).toEqual([]);
    expect(rules('1=1 is true', level(2))).toContain('sqli-020-lone-tautology');
  });

  it('ordered comparisons from level 3', () => {
    expect(rules('5 > 3 and 2 < 4', level(2))).toEqual([]);
    expect(rules('5 > 3 and 2 < 4', level(3))).toContain('sqli-030-logic-expression');
  });

  it('quote breakout alone at level 4', () => {
    expect(rules("x' y", level(3))).toEqual([]);
    expect(rules("x' + y", level(2))).toContain('sqli-022-quoted-expression');
  });
});

describe('sqli strict sink', () => {
  it('any structure change is critical', () => {
    expect(rules("x' + y", strict)).toContain('sqli-050-sink-structure-change');
    expect(rules('a=b', strict)).toContain('sqli-050-sink-structure-change');
  });

  it('names and dates still pass', () => {
    expect(rules("O'Brien", strict)).toEqual([]);
    expect(rules('2024-01-02', strict)).toEqual([]);
  });
});

describe('sqli bounds', () => {
  it('long input gets a prefix note', () => {
    const hits = detectSqli(`${'a '.repeat(MAX_SQL_INPUT)}' or 1=1--`, level(1));
    expect(hits.map((hit) => hit.ruleId)).toEqual(['sqli-099-inspected-prefix']);
    expect(hits[0]?.score).toBe(0);
  });

  it('attack inside the prefix is still found', () => {
    const hits = rules(`' or 1=1-- ${'x'.repeat(MAX_SQL_INPUT)}`);
    expect(hits).toContain('sqli-004-tautology');
  });

  it('union after thousands of tokens', () => {
    const input = `1 in (${'1,'.repeat(5000)}1) union select null--`;
    expect(rules(input)).toContain('sqli-001-union-select');
  });

  it('union after many valid tokens', () => {
    const input = `1 and ${'1=1 and '.repeat(40)}1=1 union select null--`;
    expect(rules(input)).toContain('sqli-001-union-select');
  });

  it('call that spans the first pass', () => {
    const input = `' and 1=concat(${'0x41,'.repeat(40)}version())--`;
    expect(rules(input)).toContain('sqli-006-comment-truncation');
  });

  it('tokenizer output is bounded', () => {
    const { tokens, truncated } = tokenizeSql('('.repeat(100_000));
    expect(tokens.length).toBe(MAX_SQL_TOKENS);
    expect(truncated).toBe(true);
  });

  it('unterminated comment and string end cleanly', () => {
    expect(tokenizeSql('1 /* open').tokens.map((token) => token.kind)).toEqual([
      'number',
      'comment',
    ]);
    expect(tokenizeSql("'open").tokens[0]).toMatchObject({ kind: 'string', open: true });
  });
});

/** Technical prose that paranoia 1 once blocked. Each passes at 1, and its rule moved to 2. */
describe('sqli technical prose', () => {
  it.each([
    ['run it with `--json`', 'sqli-027-flag-comment-truncation'],
    ['`--json` prints the report as JSON.', 'sqli-027-flag-comment-truncation'],
    ['Pass `--allow-empty` when an empty log is expected', 'sqli-027-flag-comment-truncation'],
    ['select * from users;', 'sqli-028-select-statement'],
  ])('%j moves to %s', (input, moved) => {
    expect(rules(input, level(1))).toEqual([]);
    expect(rules(input, level(2))).toContain(moved);
  });

  it.each([
    'after `DELETE FROM audit_records WHERE seq = 9` instead:',
    '**List files.** One address a line. `#` starts a comment anywhere',
    'I ran select * from users; in a support ticket',
    "Our report uses 'Total' + SUM(A1) + 'x' in the header cell.",
  ])('passes %j at level 1', (input) => {
    expect(rules(input, level(1))).toEqual([]);
  });

  it('plain comment after a backtick', () => {
    expect(rules('name` -- x')).toContain('sqli-006-comment-truncation');
    expect(rules('name`#')).toContain('sqli-006-comment-truncation');
  });

  it('backtick after a plain name', () => {
    expect(rules('id`; drop table users--')).toContain('sqli-002-stacked-statement');
  });

  it('server queries stay at level 1', () => {
    expect(rules('select @@version')).toContain('sqli-011-statement');
    expect(rules('select * from pg_shadow;')).toContain('sqli-011-statement');
    expect(rules("select current_setting('port');")).toContain('sqli-011-statement');
    expect(rules("select * from t;copy t to '/tmp/x';")).toContain('sqli-011-statement');
  });
});
