/**
 * NoSQL injection in string values. MongoDB query operators arrive as text that a careless
 * handler parses into a query object, or as a query string such as `a[$ne]=1` copied into a
 * value. JavaScript arrives in `$where` clauses and server-side functions. Operator keys in
 * objects are checked by inspectKey, not here.
 */
import { patternRule, runRules, SCORE, type Rule } from './rule-table.js';
import type { DetectContext, RuleHit } from './types.js';

/** MongoDB query and expression operators that change what a query matches. */
export const MONGO_OPERATORS = [
  'ne', 'eq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'not', 'nor', 'or', 'and', 'exists',
  'type', 'regex', 'where', 'expr', 'jsonSchema', 'mod', 'text', 'all', 'elemMatch', 'size',
  'function', 'accumulator', 'comment', 'options', 'search',
] as const; // prettier-ignore

const DB_CALL = String.raw`db\.\w+\.(?:find|findOne|insert|insertOne|update|updateOne|remove|deleteOne|deleteMany|drop|mapReduce|aggregate)\s*\(`;

const OPERATOR = `\\$(?:${MONGO_OPERATORS.join('|')})`;

const rules: readonly Rule[] = [
  // `{"$gt": ""}` or `{ $ne: 1 }`: an object literal whose key is an operator.
  patternRule(
    'nosql-001-operator-object',
    1,
    SCORE.critical,
    new RegExp(`\\{\\s*["']?${OPERATOR}["']?\\s*:`),
  ),
  // `', $where: '1 == 1'` or `, $or: [`: an operator key spliced into an object literal.
  patternRule(
    'nosql-002-operator-key',
    1,
    SCORE.critical,
    new RegExp(`(?:^|[,'"{\\[]\\s*)${OPERATOR}["']?\\s*:`),
  ),
  // `[$ne]=1`: the bracket syntax that qs-style parsers turn into an operator object.
  patternRule(
    'nosql-003-bracket-operator',
    1,
    SCORE.critical,
    new RegExp(`\\[${OPERATOR}\\]\\s*=`),
  ),
  // `';return true;var a='` (a string closed, then a statement) or a whole value such as
  // `0;return true`: a statement injected into server-side JavaScript.
  patternRule(
    'nosql-004-js-return',
    1,
    SCORE.critical,
    /['"]\s*;\s*return\s*(?:\(\s*)?(?:true|false|1|0|'|"|this\b)|^\s*\w*\s*;\s*return\s*(?:\(\s*)?(?:true|1)\b/,
  ),
  // `x; return 0;` anywhere, as code in prose also has it.
  patternRule(
    'nosql-013-js-return-in-text',
    2,
    SCORE.error,
    /;\s*return\s*(?:\(\s*)?(?:true|false|1|0|'|"|this\b)/,
  ),
  // `' && this.password.match(/.*/)//`: a string closed, then a condition on the document.
  patternRule('nosql-005-js-this', 1, SCORE.critical, /['"]\s*(?:&&|\|\|)\s*this\.\w+/),
  // `db.x.insert({…});` as the whole value or after a closed string: a shell call injected
  // into server-side JavaScript. In the middle of prose, as in a developer's question, this
  // call and a condition on `this` count from paranoia 2.
  patternRule('nosql-006-db-call', 1, SCORE.critical, new RegExp(`(?:^|['";{}]\\s*)${DB_CALL}`)),
  patternRule(
    'nosql-014-js-in-text',
    2,
    SCORE.error,
    new RegExp(`\\b${DB_CALL}|(?:&&|\\|\\|)\\s*this\\.\\w+`),
  ),
  // `';sleep(5000);` or a busy loop on `new Date()`: time-based probing of `$where`.
  patternRule(
    'nosql-007-js-delay',
    1,
    SCORE.critical,
    /['"]\s*;\s*(?:sleep\s*\(\s*\d|[\w$]+\s*=\s*new\s+Date\s*\(|while\s*\(\s*true)/,
  ),
  // `'a'=='a'` or `|| 1==1`: a JavaScript tautology.
  patternRule(
    'nosql-008-js-tautology',
    2,
    SCORE.error,
    /(?:'(\w*)'\s*===?\s*'\1'|"(\w*)"\s*===?\s*"\2"|\|\|\s*(\d+)\s*===?\s*\3\b)/,
  ),
  // `"&exists": false`, a mistyped but still probing operator key.
  patternRule('nosql-009-odd-operator-key', 3, SCORE.warning, /["'][&$]\w+["']\s*:/),
  // Any operator name with a dollar sign. Ordinary text rarely contains one.
  patternRule('nosql-010-operator-word', 3, SCORE.notice, new RegExp(`${OPERATOR}\\b`)),
];

/** Detects MongoDB operators and server-side JavaScript injected into a string value. */
export function detectNosql(input: string, context: DetectContext): RuleHit[] {
  // Every rule needs one of these characters, so most values skip the regular expressions.
  if (!/[$;&|{[(]/.test(input)) return [];
  return runRules('nosql', rules, input, context);
}
