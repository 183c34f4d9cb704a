/**
 * Escape attempts against the expression evaluator, as titled fixtures by category. Each
 * must fail with the exact error class and a message that names what was rejected. None
 * may run host code, reach a host object or hang.
 */
import { describe, expect, it } from 'vitest';

import { ExpressionEngine } from '../../src/expression/engine.js';
import {
  ExpressionAccessError,
  ExpressionForbiddenError,
  ExpressionLimitError,
  ExpressionRuntimeError,
  ExpressionSyntaxError,
} from '../../src/expression/errors.js';

type ErrorClass =
  | typeof ExpressionAccessError
  | typeof ExpressionForbiddenError
  | typeof ExpressionLimitError
  | typeof ExpressionRuntimeError
  | typeof ExpressionSyntaxError;

interface Attempt {
  title: string;
  source: string;
  error: ErrorClass;
  message: string;
}

const big = Array.from({ length: 1_000 }, (_, index) => index);
const data = {
  $json: {
    name: 'Ada',
    items: [{ p: 1 }, { p: 2 }],
    key: 'constructor',
    s: 'a'.repeat(40) + '!',
    big,
  },
};

const categories: Record<string, Attempt[]> = {
  'constructor chains': [
    {
      title: 'data constructor',
      source: '$json.constructor',
      error: ExpressionAccessError,
      message: 'property "constructor" is not accessible (line 1, column 7)',
    },
    {
      title: 'string literal constructor',
      source: "''.constructor",
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'Function via constructor chain',
      source: "[].constructor.constructor('return process')()",
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'number constructor',
      source: '(1).constructor',
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'date constructor',
      source: '$now.constructor',
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'constructor of a method',
      source: '$json.name.toUpperCase.constructor',
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'constructor inside an arrow',
      source: '$json.items.map(x => x.constructor)',
      error: ExpressionAccessError,
      message: 'property "constructor" is not accessible (line 1, column 24)',
    },
    {
      title: 'string key constructor',
      source: "$json['constructor']",
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'method read as a value',
      source: '$json.name.toUpperCase',
      error: ExpressionRuntimeError,
      message: 'method toUpperCase can only be called, not read',
    },
  ],
  'global object access': [
    {
      title: 'globalThis',
      source: 'globalThis',
      error: ExpressionForbiddenError,
      message: 'identifier "globalThis" is not allowed in an expression (line 1, column 1)',
    },
    {
      title: 'process.env',
      source: 'process.env.HOME',
      error: ExpressionForbiddenError,
      message: 'identifier "process"',
    },
    {
      title: 'require',
      source: "require('child_process')",
      error: ExpressionForbiddenError,
      message: 'function "require"',
    },
    {
      title: 'this',
      source: 'this',
      error: ExpressionForbiddenError,
      message: 'this is not allowed',
    },
    {
      title: 'Function constructor',
      source: "Function('return this')()",
      error: ExpressionForbiddenError,
      message: 'function "Function"',
    },
    {
      title: 'eval',
      source: "eval('1')",
      error: ExpressionForbiddenError,
      message: 'function "eval"',
    },
    {
      title: 'Reflect',
      source: 'Reflect.ownKeys($json)',
      error: ExpressionForbiddenError,
      message: 'identifier "Reflect"',
    },
    {
      title: 'helper namespace constructor',
      source: 'Math.constructor',
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'computed helper access',
      source: "JSON['parse']('1')",
      error: ExpressionForbiddenError,
      message: 'computed or optional access to helper JSON',
    },
    {
      title: 'helper namespace as a value',
      source: 'Math',
      error: ExpressionForbiddenError,
      message: 'helper Math used as a value',
    },
    {
      title: 'helper function as a value',
      source: '[String].length',
      error: ExpressionForbiddenError,
      message: 'helper String used as a value',
    },
  ],
  'run-time keys': [
    {
      title: 'key joined from parts',
      source: "$json[['constr', 'uctor'].join('')]",
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'key concatenated',
      source: "$json['__pro' + 'to__']",
      error: ExpressionAccessError,
      message: 'property "__proto__"',
    },
    {
      title: 'key from a template',
      source: '$json[`proto${"type"}`]',
      error: ExpressionAccessError,
      message: 'property "prototype"',
    },
    {
      title: 'key from data',
      source: '$json[$json.key]',
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'key as an array',
      source: "$json[['constructor']]",
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
    {
      title: 'computed method name',
      source: "''[['to', 'String'].join('')]()",
      error: ExpressionAccessError,
      message: 'property "toString"',
    },
    {
      title: 'computed object key',
      source: "({ ['__proto__']: 1 })",
      error: ExpressionAccessError,
      message: 'property "__proto__"',
    },
    {
      title: 'fromEntries key',
      source: "Object.fromEntries([['__proto__', 1]])",
      error: ExpressionAccessError,
      message: 'property "__proto__"',
    },
    {
      title: 'in operator',
      source: "'constructor' in $json",
      error: ExpressionAccessError,
      message: 'property "constructor"',
    },
  ],
  destructuring: [
    {
      title: 'object pattern parameter',
      source: '$json.items.map(({ p }) => p)',
      error: ExpressionForbiddenError,
      message: 'destructuring pattern',
    },
    {
      title: 'array pattern parameter',
      source: '$json.items.map(([a]) => a)',
      error: ExpressionForbiddenError,
      message: 'destructuring pattern',
    },
    {
      title: 'computed key pattern',
      source: "$json.items.map(({ ['constr' + 'uctor']: c }) => c)",
      error: ExpressionForbiddenError,
      message: 'destructuring pattern',
    },
    {
      title: 'default parameter',
      source: '$json.items.map((a = 1) => a)',
      error: ExpressionForbiddenError,
      message: 'default parameter',
    },
    {
      title: 'rest parameter',
      source: '$json.items.map((...rest) => rest)',
      error: ExpressionForbiddenError,
      message: 'rest parameter',
    },
    {
      title: 'destructuring assignment',
      source: '({ constructor: c } = $json)',
      error: ExpressionForbiddenError,
      message: 'assignment',
    },
  ],
  'stack-trace and error tricks': [
    {
      title: 'catch in a block body',
      source: '$json.items.map(x => { try { null.a } catch (e) { return e } })',
      error: ExpressionForbiddenError,
      message: 'arrow function with a block body',
    },
    {
      title: 'Error stack',
      source: 'new Error().stack',
      error: ExpressionForbiddenError,
      message: 'new operator',
    },
    {
      title: 'prepareStackTrace',
      source: 'Error.prepareStackTrace',
      error: ExpressionForbiddenError,
      message: 'identifier "Error"',
    },
    {
      title: 'caller',
      source: '$json.items.map(x => x.caller)',
      error: ExpressionAccessError,
      message: 'property "caller"',
    },
    {
      title: 'arguments',
      source: '$json.items.map(x => arguments)',
      error: ExpressionForbiddenError,
      message: 'identifier "arguments"',
    },
    {
      title: 'callee',
      source: "$json['call' + 'ee']",
      error: ExpressionAccessError,
      message: 'property "callee"',
    },
    {
      title: 'host TypeError from null',
      source: '$json.missing.deep',
      error: ExpressionRuntimeError,
      message: 'cannot read property "deep" of undefined (line 1, column 15)',
    },
    {
      title: 'host SyntaxError from JSON.parse',
      source: "JSON.parse('{')",
      error: ExpressionRuntimeError,
      message: 'JSON.parse: the text is not valid JSON',
    },
  ],
  'prototype pollution': [
    {
      title: 'assignment to __proto__',
      source: '$json.__proto__.polluted = 1',
      error: ExpressionForbiddenError,
      message: 'assignment',
    },
    {
      title: '__proto__ literal key',
      source: "({ '__proto__': { polluted: 1 } })",
      error: ExpressionAccessError,
      message: 'property "__proto__"',
    },
    {
      title: 'mutating method',
      source: '$json.items.push(1)',
      error: ExpressionRuntimeError,
      message: 'push is not a method of an array',
    },
    {
      title: 'Object.assign',
      source: 'Object.assign($json, { a: 1 })',
      error: ExpressionForbiddenError,
      message: 'unknown helper Object.assign',
    },
    {
      title: 'increment',
      source: '$json.a++',
      error: ExpressionForbiddenError,
      message: 'increment or decrement',
    },
    {
      title: 'delete',
      source: 'delete $json.name',
      error: ExpressionForbiddenError,
      message: 'delete operator',
    },
    {
      title: 'Object.setPrototypeOf',
      source: 'Object.setPrototypeOf($json, null)',
      error: ExpressionForbiddenError,
      message: 'unknown helper Object.setPrototypeOf',
    },
  ],
  'getters and descriptors': [
    {
      title: 'getter in a literal',
      source: '({ get x() { return 1 } })',
      error: ExpressionForbiddenError,
      message: 'getter',
    },
    {
      title: 'setter in a literal',
      source: '({ set x(v) {} })',
      error: ExpressionForbiddenError,
      message: 'setter',
    },
    {
      title: 'method in a literal',
      source: '({ f() { return 1 } })',
      error: ExpressionForbiddenError,
      message: 'method definition',
    },
    {
      title: 'defineProperty',
      source: "Object.defineProperty($json, 'a', {})",
      error: ExpressionForbiddenError,
      message: 'unknown helper Object.defineProperty',
    },
    {
      title: 'getOwnPropertyDescriptor',
      source: "Object.getOwnPropertyDescriptor($json, 'name')",
      error: ExpressionForbiddenError,
      message: 'unknown helper Object.getOwnPropertyDescriptor',
    },
    {
      title: '__defineGetter__',
      source: "$json.__defineGetter__('a', x => 1)",
      error: ExpressionAccessError,
      message: 'property "__defineGetter__"',
    },
    {
      title: '__lookupGetter__',
      source: "$json['__lookupGetter__']('name')",
      error: ExpressionAccessError,
      message: 'property "__lookupGetter__"',
    },
  ],
  'async and generator constructors': [
    {
      title: 'async arrow',
      source: '$json.items.map(async x => x)',
      error: ExpressionForbiddenError,
      message: 'async arrow function',
    },
    {
      title: 'async function constructor',
      source: "(async function () {})('return process')",
      error: ExpressionForbiddenError,
      message: 'function expression',
    },
    {
      title: 'generator function constructor',
      source: '(function* () {})().next()',
      error: ExpressionForbiddenError,
      message: 'function expression',
    },
    {
      title: 'class expression',
      source: '(class {})',
      error: ExpressionForbiddenError,
      message: 'class expression',
    },
    {
      title: 'await',
      source: '$json.items.map(x => await x)',
      error: ExpressionSyntaxError,
      message: 'invalid expression syntax at line 1',
    },
    {
      title: 'arrow outside a helper call',
      source: '(() => 1)',
      error: ExpressionForbiddenError,
      message: 'arrow function outside a helper call',
    },
  ],
  'import()': [
    {
      title: 'dynamic import',
      source: "import('node:fs')",
      error: ExpressionForbiddenError,
      message: 'import() is not allowed',
    },
    {
      title: 'import in an arrow',
      source: "$json.items.map(x => import('node:fs'))",
      error: ExpressionForbiddenError,
      message: 'import()',
    },
    {
      title: 'import.meta',
      source: 'import.meta.url',
      error: ExpressionSyntaxError,
      message: 'import.meta',
    },
    {
      title: 'new.target',
      source: 'new.target',
      error: ExpressionSyntaxError,
      message: 'new.target',
    },
  ],
  'resource exhaustion': [
    {
      title: 'huge repeat',
      source: "'a'.repeat(1e9)",
      error: ExpressionLimitError,
      message: 'stringLength limit of 100000',
    },
    {
      title: 'huge padStart',
      source: "'a'.padStart(1e9, 'b')",
      error: ExpressionLimitError,
      message: 'stringLength limit',
    },
    {
      title: 'string doubling',
      source: "$json.big.reduce(a => a + a, 'ab')",
      error: ExpressionLimitError,
      message: 'stringLength limit',
    },
    {
      title: 'array doubling',
      source: '$json.big.reduce(a => a.concat(a), [1])',
      error: ExpressionLimitError,
      message: 'arrayLength limit of 10000',
    },
    {
      title: 'quadratic loop',
      source: '$json.big.map(x => $json.big.map(y => x))',
      error: ExpressionLimitError,
      message: 'steps limit of 100000',
    },
    {
      title: 'nested calls',
      source:
        '[1].map(a => [1].map(b => [1].map(c => [1].map(d => [1].map(e => [1].map(f => [1].map(g => [1].map(h => [1].map(i => i)))))))))',
      error: ExpressionLimitError,
      message: 'callDepth limit of 8',
    },
    {
      title: 'long source',
      source: '1+'.repeat(5_000) + '1',
      error: ExpressionLimitError,
      message: 'sourceLength limit of 8192',
    },
    {
      title: 'deep nesting',
      source: '('.repeat(2_000) + '1' + ')'.repeat(2_000),
      error: ExpressionLimitError,
      message: 'depth limit',
    },
    {
      title: 'many nodes',
      source: '[' + '1,'.repeat(2_500) + '1]',
      error: ExpressionLimitError,
      message: 'nodes limit of 2000',
    },
    {
      title: 'large output',
      source: "$json.big.map(x => 'x'.repeat(2000))",
      error: ExpressionLimitError,
      message: 'outputSize limit of 1000000',
    },
    {
      title: 'deep value built by reduce',
      source: '$json.big.reduce(a => [a], [])',
      error: ExpressionLimitError,
      message: 'depth limit of 256',
    },
  ],
  'ReDoS via helpers': [
    {
      title: 'regex literal',
      source: '/(a+)+$/.test($json.s)',
      error: ExpressionForbiddenError,
      message: 'regular expression literal',
    },
    {
      title: 'regex in split',
      source: '$json.s.split(/(a|a)*$/)',
      error: ExpressionForbiddenError,
      message: 'regular expression literal',
    },
    {
      title: 'RegExp constructor',
      source: "RegExp('(a+)+$')",
      error: ExpressionForbiddenError,
      message: 'function "RegExp"',
    },
    {
      title: 'match with a pattern string',
      source: "$json.s.match('(a+)+$')",
      error: ExpressionRuntimeError,
      message: 'match is not a method of a string',
    },
    {
      title: 'search with a pattern string',
      source: "$json.s.search('(a+)+$')",
      error: ExpressionRuntimeError,
      message: 'search is not a method of a string',
    },
    {
      title: 'replace with a non-string pattern',
      source: '$json.s.replace($json.items, "x")',
      error: ExpressionRuntimeError,
      message: 'replace: argument 1 must be a string',
    },
  ],
};

describe('expression escapes', () => {
  const engine = new ExpressionEngine();

  it('fixture set covers 40+ attempts', () => {
    expect(Object.values(categories).flat().length).toBeGreaterThanOrEqual(40);
  });

  for (const [category, attempts] of Object.entries(categories)) {
    describe(category, () => {
      for (const attempt of attempts) {
        it(attempt.title, () => {
          let caught: unknown;
          try {
            engine.evaluate(attempt.source, data);
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(attempt.error);
          expect((caught as Error).constructor).toBe(attempt.error);
          expect((caught as Error).message).toContain(attempt.message);
        });
      }
    });
  }

  it('wall time limit stops a long evaluation', () => {
    const slow = new ExpressionEngine({ limits: { maxSteps: 1e9, timeoutMs: 5 } });
    expect(() =>
      slow.evaluate('$json.big.map(x => $json.big.map(y => $json.big.map(z => z)))', data),
    ).toThrow(new ExpressionLimitError('time', 5));
  });

  it('pattern strings match literally', () => {
    // `(a+)+$` against a long run of `a` is the classic catastrophic backtracking input;
    // as a literal string it is simply not found.
    expect(engine.evaluate("$json.s.replace('(a+)+$', 'x')", data)).toBe(data.$json.s);
    expect(engine.evaluate("$json.s.includes('(a+)+$')", data)).toBe(false);
    expect(engine.evaluate("'a$&b'.replace('$&', '$1')", data)).toBe('a$1b');
  });

  it('__proto__ from JSON.parse stays data', () => {
    const result = engine.evaluate(
      '({ ...JSON.parse(\'{"__proto__": {"polluted": 1}}\') })',
      data,
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBeNull();
    expect(Object.hasOwn(result, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('input getters are never run', () => {
    let ran = false;
    const input = {
      get secret() {
        ran = true;
        return 'x';
      },
      plain: 1,
    };
    expect(engine.evaluate('Object.keys($json)', { $json: input })).toEqual(['plain']);
    expect(ran).toBe(false);
  });
});
