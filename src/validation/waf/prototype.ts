/**
 * Prototype pollution: a key or a property path that reaches `Object.prototype` through
 * `__proto__` or `constructor.prototype`, in any of the forms that query parsers and
 * path-setting helpers (lodash `set`, qs, dot-prop) accept: `a[__proto__][x]`,
 * `__proto__.x`, `constructor[prototype]`, `["constructor"]["prototype"]`.
 */
import { SCORE } from './rule-table.js';
import type { DetectContext, RuleHit } from './types.js';

/** Splits `a[b].c["d"]` into `a`, `b`, `c`, `d`. */
export function pathSegments(path: string): string[] {
  return path
    .split(/[[\].]+/)
    .map((segment) => segment.replace(/^['"`]|['"`]$/g, '').trim())
    .filter((segment) => segment.length > 0);
}

/**
 * Finds how the segments of a key reach the prototype of Object: `'proto'` through
 * `__proto__`, `'constructor'` through `constructor.prototype`, or undefined when they do not.
 */
export function reachesPrototype(segments: readonly string[]): 'proto' | 'constructor' | undefined {
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '__proto__') return 'proto';
    if (segment === 'constructor' && segments[i + 1] === 'prototype') return 'constructor';
  }
  return undefined;
}

/**
 * Detects an object key that pollutes a prototype. `parentKey` is the name of the member that
 * contains the key, so `{"constructor": {"prototype": …}}` reads as `constructor.prototype`, the
 * path a deep merge follows. Only a parent `constructor` is joined: a parent `__proto__` is
 * reported on its own field already.
 */
export function detectPrototypeKey(
  key: string,
  context: DetectContext,
  parentKey?: string,
): RuleHit[] {
  const hits: RuleHit[] = [];
  const segments = pathSegments(key);
  if (parentKey !== undefined && pathSegments(parentKey).at(-1) === 'constructor')
    segments.unshift('constructor');
  const reach = reachesPrototype(segments);
  if (reach === 'proto')
    hits.push({ ruleId: 'prototype-001-proto-key', family: 'prototype', score: SCORE.critical });
  if (reach === 'constructor') {
    hits.push({
      ruleId: 'prototype-002-constructor-prototype-key',
      family: 'prototype',
      score: SCORE.critical,
    });
  }
  if (hits.length === 0 && context.paranoia >= 3 && /^(?:prototype|constructor)$/.test(key)) {
    hits.push({ ruleId: 'prototype-004-bare-name', family: 'prototype', score: SCORE.notice });
  }
  return hits;
}

/**
 * Detects a value that is a property path or JSON fragment reaching a prototype, for values
 * that a server passes to a path-setting helper or parses again.
 */
export function detectPrototype(input: string, context: DetectContext): RuleHit[] {
  if (!input.includes('__proto__') && !input.includes('prototype')) return [];
  const hits: RuleHit[] = [];
  const trimmed = input.trim();
  // A whole value that is a path, e.g. `__proto__.isAdmin` or `a[constructor][prototype][x]`.
  if (
    /^[\w$[\]."'`-]+(?:\s*=.*)?$/s.test(trimmed) &&
    reachesPrototype(pathSegments(trimmed.split('=')[0]!)) !== undefined
  ) {
    hits.push({ ruleId: 'prototype-003-path-value', family: 'prototype', score: SCORE.critical });
  } else if (
    /["']__proto__["']\s*:|["']constructor["']\s*:\s*\{\s*["']prototype["']\s*:/.test(input)
  ) {
    hits.push({ ruleId: 'prototype-003-path-value', family: 'prototype', score: SCORE.critical });
  } else if (
    context.paranoia >= 2 &&
    /__proto__|constructor\s*(?:\.|\[\s*["']?)\s*prototype/.test(input)
  ) {
    hits.push({ ruleId: 'prototype-005-mention', family: 'prototype', score: SCORE.error });
  }
  return hits;
}
