/**
 * The caller's data is read in place, without a copy first. These tests give evaluations data
 * with getters, proxies, class instances, functions and objects that define conversion hooks,
 * and check that none of that code runs, that only plain data is read, and that results are
 * still frozen copies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ExpressionDate } from '../../src/expression/date.js';
import { ExpressionEngine } from '../../src/expression/engine.js';
import {
  ExpressionAccessError,
  ExpressionLimitError,
  ExpressionRuntimeError,
} from '../../src/expression/errors.js';

const engine = new ExpressionEngine();

/** Returns a proxy whose traps all record their name and throw, and the list of trap names. */
function trappedProxy(target: object): { proxy: object; trapped: string[] } {
  const trapped: string[] = [];
  const handler: ProxyHandler<object> = {};
  for (const trap of [
    'get',
    'getOwnPropertyDescriptor',
    'getPrototypeOf',
    'has',
    'ownKeys',
    'apply',
    'defineProperty',
    'set',
  ] as const) {
    (handler as Record<string, unknown>)[trap] = () => {
      trapped.push(trap);
      throw new Error(`trap ${trap} ran`);
    };
  }
  return { proxy: new Proxy(target, handler), trapped };
}

describe('getters in the data', () => {
  it('nested getter is never run', () => {
    let ran = 0;
    const order = {
      total: 5,
      get secret() {
        ran++;
        return 'x';
      },
    };
    const data = { $json: { order } };
    expect(engine.evaluate('$json.order.secret', data)).toBeUndefined();
    expect(engine.evaluate('$json.order.total', data)).toBe(5);
    expect(engine.evaluate('$json.order', data)).toEqual({ total: 5 });
    expect(engine.evaluate('Object.keys($json.order)', data)).toEqual(['total']);
    expect(engine.evaluate("$json.order['sec' + 'ret']", data)).toBeUndefined();
    expect(ran).toBe(0);
  });

  it('array index getter is never run', () => {
    let ran = 0;
    const list = [1, 2];
    Object.defineProperty(list, 1, {
      get() {
        ran++;
        return 99;
      },
      enumerable: true,
    });
    const data = { $json: { list } };
    expect(engine.evaluate('$json.list[1]', data)).toBeUndefined();
    expect(engine.evaluate('$json.list', data)).toEqual([1, undefined]);
    expect(engine.evaluate('$json.list.map(x => x)', data)).toEqual([1, undefined]);
    expect(ran).toBe(0);
  });

  it('getter on the variables object is never run', () => {
    let ran = 0;
    const data = {
      get $json() {
        ran++;
        return { a: 1 };
      },
    };
    expect(() => engine.evaluate('$json.a', data)).toThrow(
      'variable $json is not defined (line 1, column 1)',
    );
    expect(ran).toBe(0);
  });

  it('non-enumerable property is not read', () => {
    const order = { total: 5 };
    Object.defineProperty(order, 'hidden', { value: 'x', enumerable: false });
    expect(engine.evaluate('$json.order.hidden', { $json: { order } })).toBeUndefined();
  });
});

describe('proxies in the data', () => {
  it('proxy object reads as undefined, no trap runs', () => {
    const { proxy, trapped } = trappedProxy({ x: 1 });
    const data = { $json: { p: proxy } };
    expect(engine.evaluate('$json.p', data)).toBeUndefined();
    expect(() => engine.evaluate('$json.p.x', data)).toThrow(ExpressionRuntimeError);
    expect(engine.evaluate('$json.p?.x', data)).toBeUndefined();
    expect(engine.evaluate('$json', data)).toEqual({ p: undefined });
    expect(engine.evaluate('JSON.stringify($json)', data)).toBe('{}');
    expect(trapped).toEqual([]);
  });

  it('proxy of an array reads as undefined', () => {
    const { proxy, trapped } = trappedProxy([1, 2, 3]);
    const data = { $json: { list: proxy } };
    expect(engine.evaluate('$json.list', data)).toBeUndefined();
    expect(() => engine.evaluate('$json.list.length', data)).toThrow(
      'cannot read property "length" of undefined',
    );
    expect(trapped).toEqual([]);
  });

  it('proxy as the variables object is rejected', () => {
    const { proxy, trapped } = trappedProxy({ $json: 1 });
    expect(() => engine.evaluate('$json', proxy as Record<string, unknown>)).toThrow(
      new TypeError('expression data must be an object of variables'),
    );
    expect(trapped).toEqual([]);
  });

  it('prepare copies no proxy', () => {
    const { proxy, trapped } = trappedProxy({ x: 1 });
    const prepared = engine.prepare({ $json: { p: proxy } });
    expect(engine.evaluate('$json.p', prepared)).toBeUndefined();
    expect(trapped).toEqual([]);
  });
});

describe('class instances and functions in the data', () => {
  it('class instance reads as undefined', () => {
    let ran = 0;
    class Account {
      balance = 10;
      get owner() {
        ran++;
        return 'x';
      }
      close() {
        ran++;
      }
    }
    const data = { $json: { account: new Account() } };
    expect(engine.evaluate('$json.account', data)).toBeUndefined();
    expect(engine.evaluate('$json.account?.balance', data)).toBeUndefined();
    expect(() => engine.evaluate('$json.account.close()', data)).toThrow(ExpressionRuntimeError);
    expect(ran).toBe(0);
  });

  it('object with a foreign prototype reads as undefined', () => {
    const inherited = Object.create({ secret: 's' }) as Record<string, unknown>;
    inherited.own = 1;
    const data = { $json: { inherited, map: new Map([['a', 1]]), bytes: new Uint8Array(4) } };
    expect(engine.evaluate('$json.inherited', data)).toBeUndefined();
    expect(engine.evaluate('$json.map', data)).toBeUndefined();
    expect(engine.evaluate('$json.bytes', data)).toBeUndefined();
  });

  it('function is never returned or called', () => {
    let ran = 0;
    const callback = () => {
      ran++;
      return 'called';
    };
    const data = { $json: { callback, nested: { callback } } };
    expect(engine.evaluate('$json.callback', data)).toBeUndefined();
    expect(engine.evaluate('$json.nested', data)).toEqual({});
    expect(() => engine.evaluate('$json.callback()', data)).toThrow(
      'callback is not a method of an object',
    );
    expect(() => engine.evaluate('$json.nested.callback()', data)).toThrow(ExpressionRuntimeError);
    expect(engine.evaluate('typeof $json.callback', data)).toBe('undefined');
    expect(ran).toBe(0);
  });

  it('function variable is not defined', () => {
    expect(() => engine.evaluate('$fn', { $fn: () => 1 })).toThrow('variable $fn is not defined');
  });
});

describe('conversion hooks in the data', () => {
  it('toJSON, valueOf, toString and Symbol.toPrimitive never run', () => {
    let ran = 0;
    const hook = () => {
      ran++;
      return 'hooked';
    };
    const value = { a: 1, toJSON: hook, valueOf: hook, toString: hook, [Symbol.toPrimitive]: hook };
    const data = { $json: { value } };
    expect(engine.evaluate('JSON.stringify($json.value)', data)).toBe('{"a":1}');
    expect(engine.evaluate("$json.value + ''", data)).toBe('[object Object]');
    expect(engine.evaluate('`${$json.value}`', data)).toBe('[object Object]');
    expect(engine.evaluate('$json.value == 1', data)).toBe(false);
    expect(ran).toBe(0);
  });

  it('own Symbol.iterator of an array never runs', () => {
    let ran = 0;
    const list = [1, 2];
    Object.defineProperty(list, Symbol.iterator, {
      value: function* () {
        ran++;
        yield 'x';
      },
    });
    const data = { $json: { list } };
    expect(engine.evaluate('[...$json.list]', data)).toEqual([1, 2]);
    expect(engine.evaluate('Math.max(...$json.list)', data)).toBe(2);
    expect(engine.evaluate("$json.list.join('-')", data)).toBe('1-2');
    expect(ran).toBe(0);
  });

  it('Date subclass getTime override never runs', () => {
    let ran = 0;
    class Sneaky extends Date {
      override getTime(): number {
        ran++;
        return 0;
      }
    }
    const data = { $json: { when: new Sneaky(Date.UTC(2026, 0, 31)) } };
    expect(engine.evaluate('$json.when.year', data)).toBe(2026);
    expect(engine.evaluate('$json.when', data)).toBe('2026-01-31T00:00:00.000Z');
    expect(ran).toBe(0);
  });

  it('object posing as a Date reads as undefined', () => {
    const fake = Object.create(Date.prototype) as object;
    expect(engine.evaluate('$json.fake', { $json: { fake } })).toBeUndefined();
  });
});

describe('run-time keys on the data', () => {
  const data = {
    $json: {
      keys: ['constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty'],
      own: JSON.parse('{"constructor": 1, "__proto__": {"x": 1}}') as Record<string, unknown>,
    },
  };

  for (const index of [0, 1, 2, 3, 4]) {
    it(`blocked key ${index} through a computed read`, () => {
      expect(() => engine.evaluate(`$json.own[$json.keys[${index}]]`, data)).toThrow(
        ExpressionAccessError,
      );
    });
  }

  it('own __proto__ key stays data in the result', () => {
    const result = engine.evaluate('$json.own', data) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBeNull();
    expect(Object.hasOwn(result, '__proto__')).toBe(true);
    expect(Object.hasOwn(result, 'constructor')).toBe(true);
  });
});

describe('copies of the data', () => {
  it('results are frozen copies', () => {
    const input = { order: { items: [{ sku: 'a' }] } };
    const result = engine.evaluate('$json.order', { $json: input }) as {
      items: Array<{ sku: string }>;
    };
    expect(result).toEqual(input.order);
    expect(result).not.toBe(input.order);
    expect(Object.isFrozen(result)).toBe(true);
    expect(Object.isFrozen(result.items)).toBe(true);
    expect(Object.isFrozen(result.items[0])).toBe(true);
    expect(Object.getPrototypeOf(result)).toBeNull();
    expect(Object.isFrozen(input.order)).toBe(false);
  });

  it('filtered elements in a result are frozen', () => {
    const input = { items: [{ p: 1 }, { p: 5 }] };
    const result = engine.evaluate('$json.items.filter(i => i.p > 2)', { $json: input }) as [
      { p: number },
    ];
    expect(result).toEqual([{ p: 5 }]);
    expect(Object.isFrozen(result[0])).toBe(true);
    expect(Object.isFrozen(input.items[1])).toBe(false);
  });

  it('one object is copied once per evaluation', () => {
    const data = { $json: { list: [{ a: 1 }] } };
    expect(engine.evaluate('$json.list === $json.list', data)).toBe(true);
    expect(engine.evaluate('[$json.list, $json.list]', data)).toEqual([[{ a: 1 }], [{ a: 1 }]]);
  });

  it('copies share the data limit', () => {
    const small = new ExpressionEngine({ limits: { maxDataValues: 10 } });
    const data = { $json: { a: [1, 2, 3, 4, 5], b: [1, 2, 3, 4, 5] } };
    expect(small.evaluate('$json.a.length + $json.b.length', data)).toBe(10);
    expect(() => small.evaluate('$json.a.concat($json.b)', data)).toThrow(
      new ExpressionLimitError('dataSize', 10),
    );
  });

  it('data changed between evaluations is read anew', () => {
    const input = { n: 1 };
    expect(engine.evaluate('$json.n', { $json: input })).toBe(1);
    input.n = 2;
    expect(engine.evaluate('$json.n', { $json: input })).toBe(2);
  });

  it('in-place reads match prepared data', () => {
    const sources = [
      '$json.a',
      '$json.b?.c ?? 0',
      '$json.list.map(x => x * 2)',
      "Object.keys($json).join(',')",
      '$json.list[$json.a]',
      '{ ...$json.b }',
      'JSON.stringify($json)',
    ];
    const json = fc.record({
      a: fc.integer({ min: 0, max: 3 }),
      b: fc.option(fc.record({ c: fc.integer() }), { nil: null }),
      list: fc.array(fc.integer(), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(json, fc.constantFrom(...sources), (input, source) => {
        const prepared = engine.prepare({ $json: input });
        expect(engine.evaluate(source, { $json: input })).toEqual(
          engine.evaluate(source, prepared),
        );
      }),
    );
  });
});

describe('date formatting', () => {
  it('toISO matches toISOString', () => {
    const edges = [0, -1, 951_782_400_000, -62_167_219_200_000, 253_402_300_799_999];
    for (const ms of edges)
      expect(ExpressionDate.fromEpoch(ms)!.toISO()).toBe(new Date(ms).toISOString());
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        expect(ExpressionDate.fromEpoch(ms)!.toISO()).toBe(new Date(ms).toISOString());
      }),
    );
  });
});

/** Returns where `value` is not plain result data: frozen, prototype-less or array, no code. */
function impurity(value: unknown, path = 'result', depth = 0): string | undefined {
  if (depth > 300) return `${path} is nested too deep`;
  if (value === null || value === undefined) return undefined;
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return undefined;
  if (type !== 'object') return `${path} is a ${type}`;
  const object = value as object;
  if (!Object.isFrozen(object)) return `${path} is not frozen`;
  const prototype = Object.getPrototypeOf(object) as unknown;
  if (prototype !== null && prototype !== Array.prototype) return `${path} has a prototype`;
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(object))) {
    if (!('value' in descriptor)) return `${path}.${key} is an accessor`;
    const problem = impurity(descriptor.value, `${path}.${key}`, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

describe('exotic data property', () => {
  it('results stay plain and no data code runs', () => {
    let ran = 0;
    // Exotic values are built inside the property, so fast-check never inspects them.
    const makers: Array<() => unknown> = [
      () => () => ran++,
      () => Object.defineProperty({}, 'x', { get: () => ran++, enumerable: true }),
      () => trappedProxy({ x: 1 }).proxy,
      () =>
        new (class Thing {
          x = 1;
        })(),
      () => ({ toJSON: () => ran++, valueOf: () => ran++, y: 2 }),
      () => new Map([['k', 1]]),
      () => Symbol('s'),
      () => 10n ** 20n,
      () => new Date(0),
    ];
    type Spec = { plain: unknown } | { exotic: number };
    const spec: fc.Arbitrary<Spec> = fc.oneof(
      fc
        .anything({ maxDepth: 2, withNullPrototype: true, withSparseArray: true })
        .map((plain) => ({ plain })),
      fc.integer({ min: 0, max: makers.length - 1 }).map((exotic) => ({ exotic })),
    );
    const build = (item: Spec): unknown => ('exotic' in item ? makers[item.exotic]!() : item.plain);
    const sources = [
      '$json',
      '$json.a',
      '$json.list.map(x => x)',
      'Object.values($json)',
      'JSON.stringify($json)',
      '[$json.a, ...$json.list]',
      '{ ...$json }',
      "$json.list.filter(x => x !== null).length + ''",
    ];
    fc.assert(
      fc.property(
        spec,
        fc.array(spec, { maxLength: 4 }),
        fc.constantFrom(...sources),
        (a, list, source) => {
          const input = { a: build(a), list: list.map(build) };
          let result: unknown;
          try {
            result = engine.evaluate(source, { $json: input });
          } catch (error) {
            if (error instanceof ExpressionRuntimeError || error instanceof ExpressionLimitError)
              return;
            throw error;
          }
          expect(impurity(result)).toBeUndefined();
        },
      ),
      { numRuns: 1_000 },
    );
    expect(ran).toBe(0);
  });
});
