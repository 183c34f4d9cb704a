import { describe, expect, it } from 'vitest';

import { detectLdap } from '../../../src/validation/waf/ldap.js';
import type { DetectContext } from '../../../src/validation/waf/types.js';

const level1: DetectContext = { paranoia: 1, strict: false };
const ids = (input: string, context: DetectContext = level1): string[] =>
  detectLdap(input, context).map((hit) => hit.ruleId);

describe('detectLdap', () => {
  it.each([
    ['*)(uid=*))(|(uid=*', 'ldap-001-filter-breakout'],
    ['admin)(|(password=*)', 'ldap-001-filter-breakout'],
    ['*(|(objectclass=*))', 'ldap-002-branch'],
    ['admin*)((|userPassword=*)', 'ldap-002-branch'],
    ['*)(&', 'ldap-003-wildcard-operator'],
    ["*()|&'", 'ldap-003-wildcard-operator'],
    ['*))\0', 'ldap-004-nul-truncation'],
    ['admin)(&)', 'ldap-009-absolute-filter'],
    ['admin)(!(&(1=0', 'ldap-001-filter-breakout'],
  ])('detects %j at paranoia 1', (input, ruleId) => {
    expect(ids(input)).toContain(ruleId);
  });

  it.each([
    'Table for 4 at 7:30, please (window seat if possible)',
    '(555) 123-4567 ext. 89',
    'Terms & Conditions apply*',
    ':-) (see above)',
  ])('passes %j at paranoia 1', (input) => {
    expect(ids(input)).toEqual([]);
  });

  it('LDAP field rejects filter metacharacters', () => {
    expect(ids('admin*', { paranoia: 1, strict: true })).toContain('ldap-008-sink-metacharacter');
    expect(ids('jdoe', { paranoia: 1, strict: true })).toEqual([]);
  });
});
