/**
 * Rule ids as users write them in exclusions. A rule id is `<family>-<number>-<name>`, for
 * example `sqli-001-tautology`. Users may also write only `<family>-<number>`.
 */
import { families } from './types.js';

const RULE_ID = new RegExp(`^(?:${families.join('|')})-\\d{3}(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?$`);

/** Checks whether `value` is written like a rule id of a known family. */
export function isKnownRule(value: string): boolean {
  return RULE_ID.test(value);
}

/** Returns the `<family>-<number>` part of a rule id, which identifies the rule. */
export function ruleKey(ruleId: string): string {
  const match = /^([a-z]+-\d{3})/.exec(ruleId);
  return match === null ? ruleId : match[1]!;
}
