import { describe, expect, it } from 'vitest';

import {
  detectPrototype,
  detectPrototypeKey,
  pathSegments,
} from '../../../src/validation/waf/prototype.js';
import type { DetectContext } from '../../../src/validation/waf/types.js';

const level1: DetectContext = { paranoia: 1, strict: false };

describe('pathSegments', () => {
  it('splits bracket, dotted and quoted forms', () => {
    expect(pathSegments('a[__proto__][x]')).toEqual(['a', '__proto__', 'x']);
    expect(pathSegments('constructor.prototype.polluted')).toEqual([
      'constructor',
      'prototype',
      'polluted',
    ]);
    expect(pathSegments('["constructor"]["prototype"]')).toEqual(['constructor', 'prototype']);
  });
});

describe('detectPrototypeKey', () => {
  it.each(['__proto__', 'a[__proto__][isAdmin]', '__proto__.isAdmin'])('detects %j', (key) => {
    expect(detectPrototypeKey(key, level1).map((hit) => hit.ruleId)).toEqual([
      'prototype-001-proto-key',
    ]);
  });

  it.each([
    'constructor[prototype][isAdmin]',
    'constructor.prototype',
    'a.constructor.prototype.x',
  ])('detects %j', (key) => {
    expect(detectPrototypeKey(key, level1).map((hit) => hit.ruleId)).toEqual([
      'prototype-002-constructor-prototype-key',
    ]);
  });

  it.each(['constructor', 'prototype', 'proto', 'user.constructorName', 'items[0].name'])(
    'passes %j at paranoia 1',
    (key) => {
      expect(detectPrototypeKey(key, level1)).toEqual([]);
    },
  );
});

describe('detectPrototypeKey with the parent key', () => {
  it.each([
    ['prototype', 'constructor'],
    ['prototype.isAdmin', 'constructor'],
    ['prototype', 'user.constructor'],
  ])('detects %j under %j', (key, parent) => {
    expect(detectPrototypeKey(key, level1, parent).map((hit) => hit.ruleId)).toEqual([
      'prototype-002-constructor-prototype-key',
    ]);
  });

  it.each([
    ['prototype', 'product'],
    ['prototype', 'constructors'],
    ['isAdmin', 'constructor'],
    ['name', 'prototype'],
  ])('passes %j under %j at paranoia 1', (key, parent) => {
    expect(detectPrototypeKey(key, level1, parent)).toEqual([]);
  });

  it('key under __proto__ left to parent', () => {
    expect(detectPrototypeKey('isAdmin', level1, '__proto__')).toEqual([]);
  });
});

describe('detectPrototype', () => {
  it.each([
    '__proto__.polluted',
    'a[constructor][prototype][x]=1',
    '{"__proto__": {"isAdmin": true}}',
  ])('detects the value %j', (value) => {
    expect(detectPrototype(value, level1).map((hit) => hit.ruleId)).toEqual([
      'prototype-003-path-value',
    ]);
  });

  it('property mention passes paranoia 1', () => {
    const prose = 'Never assign to __proto__ in your handlers';

    expect(detectPrototype(prose, level1)).toEqual([]);
    expect(detectPrototype(prose, { paranoia: 2, strict: false }).map((hit) => hit.ruleId)).toEqual(
      ['prototype-005-mention'],
    );
  });
});
