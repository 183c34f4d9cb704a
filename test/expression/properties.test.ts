/**
 * Property-based tests: for generated expressions over generated data, evaluation either
 * fails with an ExpressionError or returns plain result data.
 *
 * Plain result data is defined precisely as one of these:
 * - a string, number, boolean, null or undefined;
 * - a frozen array whose prototype is the host's Array.prototype, whose own properties are
 *   `length` and its indices, all data properties, and whose elements are plain result data;
 * - a frozen object whose prototype is null, whose own properties are enumerable data
 *   properties with string keys, and whose values are plain result data.
 * So no result is or contains a function, a getter, a Date or any other host object. Only
 * arrays reach Object.prototype, through Array.prototype.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ExpressionEngine } from '../../src/expression/engine.js';
import { ExpressionError } from '../../src/expression/errors.js';

function plainProblem(value: unknown, path = 'result', depth = 0): string | undefined {
  if (depth > 300) return `${path} is nested too deep`;
  if (value === null || value === undefined) return undefined;
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return undefined;
  if (type !== 'object') return `${path} is a ${type}`;
  const object = value as object;
  if (!Object.isFrozen(object)) return `${path} is not frozen`;
  if (Object.getOwnPropertySymbols(object).length > 0) return `${path} has symbol keys`;
  const descriptors = Object.getOwnPropertyDescriptors(object);
  if (Array.isArray(object)) {
    if (Object.getPrototypeOf(object) !== Array.prototype) return `${path} has a foreign prototype`;
    for (const [key, descriptor] of Object.entries(descriptors)) {
      if (key !== 'length' && !/^\d+$/.test(key)) return `${path} has own key ${key}`;
      if (!('value' in descriptor)) return `${path}.${key} is an accessor`;
    }
  } else {
    if (Object.getPrototypeOf(object) !== null) return `${path} has a prototype`;
    for (const [key, descriptor] of Object.entries(descriptors)) {
      if (!('value' in descriptor) || !descriptor.enumerable)
        return `${path}.${key} is not plain data`;
    }
  }
  for (const [key, descriptor] of Object.entries(descriptors)) {
    if (key === 'length' && Array.isArray(object)) continue;
    const problem = plainProblem(descriptor.value, `${path}.${key}`, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

const DANGEROUS_KEYS = [
  'constructor',
  '__proto__',
  'prototype',
  'caller',
  'arguments',
  'toString',
  'valueOf',
  '__defineGetter__',
  'call',
  'apply',
  'bind',
  'then',
  'length',
  'a',
  '0',
];
const METHODS = [
  'map',
  'filter',
  'trim',
  'toUpperCase',
  'split',
  'join',
  'slice',
  'keys',
  'plus',
  'format',
  'replace',
  'concat',
  'sort',
  'includes',
  'constructor',
  'toString',
  'call',
];

const key = fc.constantFrom(...DANGEROUS_KEYS);
const quoted = (text: string) => JSON.stringify(text);

const { expression } = fc.letrec<{ expression: string; atom: string }>((tie) => ({
  atom: fc.oneof(
    fc.integer({ min: -5, max: 5 }).map(String),
    fc.constantFrom(
      '$json',
      '$json.a',
      '$json.list',
      '$json.obj',
      '$now',
      'null',
      'undefined',
      'NaN',
      '"x"',
      '[]',
      '{}',
      'Math.PI',
    ),
    fc.string({ maxLength: 6 }).map(quoted),
  ),
  expression: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('atom'),
    fc
      .tuple(
        tie('expression'),
        fc.constantFrom('+', '-', '*', '==', '===', '<', '&&', '??', 'in'),
        tie('expression'),
      )
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(tie('expression'), key).map(([a, k]) => `(${a}).${k}`),
    fc.tuple(tie('expression'), key).map(([a, k]) => `(${a})[${quoted(k)}]`),
    fc.tuple(tie('expression'), tie('expression')).map(([a, k]) => `(${a})[${k}]`),
    fc
      .tuple(tie('expression'), fc.constantFrom(...METHODS), tie('expression'))
      .map(([a, m, b]) => `(${a}).${m}(${b})`),
    fc
      .tuple(tie('expression'), fc.constantFrom('map', 'filter', 'some', 'sort'), tie('expression'))
      .map(([a, m, b]) => `(${a}).${m}(x => ${b.replace(/\$json/g, 'x')})`),
    fc
      .tuple(
        fc.constantFrom(
          'String',
          'Number',
          'JSON.stringify',
          'Object.keys',
          'Object.fromEntries',
          'Math.max',
        ),
        tie('expression'),
      )
      .map(([f, a]) => `${f}(${a})`),
    fc.tuple(tie('expression'), tie('expression')).map(([a, b]) => `[${a}, ...[${b}]]`),
    fc
      .tuple(key, tie('expression'), tie('expression'))
      .map(([k, a, b]) => `({ [${quoted(k)}]: ${a}, b: ${b} })`),
    fc.tuple(tie('expression'), tie('expression')).map(([a, b]) => `\`\${${a}}-\${${b}}\``),
    fc
      .tuple(tie('expression'), tie('expression'), tie('expression'))
      .map(([a, b, c]) => `(${a} ? ${b} : ${c})`),
  ),
})) as unknown as { expression: fc.Arbitrary<string> };

const jsonData = fc.record({
  a: fc.jsonValue({ maxDepth: 3 }),
  list: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
  obj: fc.dictionary(fc.constantFrom(...DANGEROUS_KEYS), fc.jsonValue({ maxDepth: 2 })),
});

describe('expression properties', () => {
  const engine = new ExpressionEngine({ limits: { maxSteps: 20_000 } });

  it('result is plain data or an ExpressionError', () => {
    let evaluated = 0;
    fc.assert(
      fc.property(expression, jsonData, (source, json) => {
        let result: unknown;
        try {
          result = engine.evaluate(source, { $json: json });
        } catch (error) {
          if (!(error instanceof ExpressionError)) throw error;
          return;
        }
        evaluated++;
        expect(plainProblem(result)).toBeUndefined();
      }),
      { numRuns: 3_000 },
    );
    // The generator must reach successful evaluations too, or the check above proves nothing.
    expect(evaluated).toBeGreaterThan(300);
  });

  it('rendered template is a string or an ExpressionError', () => {
    fc.assert(
      fc.property(expression, jsonData, (source, json) => {
        try {
          expect(typeof engine.renderTemplate(`a {{ ${source} }} b`, { $json: json })).toBe(
            'string',
          );
        } catch (error) {
          if (!(error instanceof ExpressionError)) throw error;
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('dangerous keys never resolve', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DANGEROUS_KEYS.slice(0, 11)),
        fc.constantFrom('$json', '""', '[]', '1', '$now', '{}'),
        (name, base) => {
          expect(() => engine.evaluate(`${base}[${quoted(name)}]`, { $json: {} })).toThrow(
            `property "${name}" is not accessible`,
          );
        },
      ),
    );
  });

  it('data from JSON round-trips unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        const result = engine.evaluate('$json', { $json: json });
        expect(plainProblem(result)).toBeUndefined();
        expect(JSON.stringify(result)).toBe(JSON.stringify(json));
      }),
    );
  });
});
