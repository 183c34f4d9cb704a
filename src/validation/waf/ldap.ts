/**
 * LDAP filter injection (RFC 4515 filters built by string concatenation): a value that closes
 * the filter it was placed in and opens another (`*)(uid=*`), adds an OR or AND branch
 * (`)(|(`), or ends the filter early with a NUL byte. The sink's real fix is escaping, which
 * src/validation/ldap.ts provides. This detector flags the attempt.
 */
import { patternRule, runRules, SCORE, type Rule } from './rule-table.js';
import type { DetectContext, RuleHit } from './types.js';

// An attribute description (a name or an OID) followed by a filter-type operator, e.g. `uid=`,
// `cn~=`, `mail>=`, `1.2.840.113556.1.4.803:=`.
const ASSERTION = String.raw`[A-Za-z0-9][\w.;:-]{0,63}\s*[~<>]?=`;

const rules: readonly Rule[] = [
  // `)(uid=*` or `*)(|(mail=*`: a closed filter followed by a new assertion.
  patternRule(
    'ldap-001-filter-breakout',
    1,
    SCORE.critical,
    new RegExp(String.raw`\)\s*\(\s*(?:[|&!]\s*(?:\(\s*)?){0,3}${ASSERTION}`),
  ),
  // `(|(mail=*))` or `((|userPassword=*)`: an OR, AND or NOT branch around an assertion.
  patternRule(
    'ldap-002-branch',
    1,
    SCORE.critical,
    new RegExp(String.raw`\(\s*[|&!]\s*(?:\(\s*)?${ASSERTION}`),
  ),
  // `*)(&` or `*()|&'`: a wildcard that closes the filter and starts an operator.
  patternRule(
    'ldap-003-wildcard-operator',
    1,
    SCORE.critical,
    /\*\s*\)+\s*\(\s*[|&!]|\*\s*\(\s*\)\s*[|&]/,
  ),
  // `*))` then NUL, or `)(cn=))\x00`: filters cut short so the rest of the template is ignored.
  patternRule('ldap-004-nul-truncation', 1, SCORE.critical, /\)\s*\)\s*(?:\0|%00|\\x00|\\00)/),
  // `admin)(&)`: a closed filter followed by the absolute true (`(&)`) or false (`(|)`) filter.
  patternRule('ldap-009-absolute-filter', 1, SCORE.critical, /\)\s*\(\s*[|&]\s*\)/),
  // `*))`: a wildcard closing two filters, which a value rarely needs.
  patternRule('ldap-005-wildcard-close', 2, SCORE.error, /\*\s*\)\s*\)/),
  // `*)(` and `)(`: a closed filter followed by an opened one.
  patternRule('ldap-006-paren-pair', 2, SCORE.error, /\)\s*\(/),
  // `admin*` then `)` or `(`: a wildcard beside filter syntax.
  patternRule('ldap-007-wildcard-paren', 3, SCORE.warning, /\*\s*[()]|[()]\s*\*/),
  // Any filter metacharacter. Only in a field tagged as an LDAP filter value.
  patternRule('ldap-008-sink-metacharacter', 4, SCORE.critical, /[()*\\\0]/, true),
];

/** Detects LDAP filter syntax injected into a value. */
export function detectLdap(input: string, context: DetectContext): RuleHit[] {
  if (!/[()*\\\0]/.test(input)) return [];
  return runRules('ldap', rules, input, context);
}
