/**
 * A small table-driven form shared by the pattern-based detectors (NoSQL, command, LDAP,
 * traversal, XXE, prototype pollution): each rule names the lowest paranoia level at which it
 * runs and the anomaly score it adds.
 */
import type { DetectContext, Family, Paranoia, RuleHit } from './types.js';

/** Anomaly scores, as in the OWASP Core Rule Set. */
export const SCORE = { critical: 5, error: 4, warning: 3, notice: 2 } as const;

export interface Rule {
  /** `<family>-<number>-<short-name>`, stable across releases so users can exclude it. */
  readonly id: string;
  /** Lowest paranoia level at which the rule runs. */
  readonly level: Paranoia;
  readonly score: number;
  /** Runs only on fields tagged with the detector's sink. */
  readonly strictOnly?: boolean;
  readonly test: (input: string) => boolean;
}

/**
 * Runs the rules enabled for `context` against `input`. A field tagged with the detector's
 * sink runs every rule, as at paranoia 4, plus the strict-only rules.
 */
export function runRules(
  family: Family,
  rules: readonly Rule[],
  input: string,
  context: DetectContext,
): RuleHit[] {
  const level = context.strict ? 4 : context.paranoia;
  let hits: RuleHit[] | undefined;
  for (const rule of rules) {
    if (rule.level > level) continue;
    if (rule.strictOnly === true && !context.strict) continue;
    if (!rule.test(input)) continue;
    hits ??= [];
    hits.push({ ruleId: rule.id, family, score: rule.score });
  }
  return hits ?? [];
}

/** Builds a rule whose test is one regular expression, which must run in linear time. */
export function patternRule(
  id: string,
  level: Paranoia,
  score: number,
  pattern: RegExp,
  strictOnly = false,
): Rule {
  return { id, level, score, strictOnly, test: (input) => pattern.test(input) };
}

/** Hits of one family, each rule id kept once. */
export class HitList {
  readonly hits: RuleHit[] = [];

  constructor(private readonly family: Family) {}

  add(ruleId: string, score: number): void {
    for (const hit of this.hits) if (hit.ruleId === ruleId) return;
    this.hits.push({ ruleId, family: this.family, score });
  }
}
