import { describe, expect, it } from 'vitest';

import { evaluate, ExpressionEngine, renderTemplate } from '../../src/expression/engine.js';
import {
  ExpressionForbiddenError,
  ExpressionLimitError,
  ExpressionRuntimeError,
  ExpressionSyntaxError,
} from '../../src/expression/errors.js';
import { PreparedData } from '../../src/expression/values.js';

const NOW = Date.UTC(2026, 0, 31, 10, 30, 0);
const engine = new ExpressionEngine({ now: () => NOW });

const data = {
  $json: {
    order: {
      total: 100,
      currency: 'EUR',
      items: [
        { sku: 'a-1', price: 5, qty: 2 },
        { sku: 'b-2', price: 20, qty: 1 },
        { sku: 'c-3', price: 12.5, qty: 4 },
      ],
    },
    name: '  Ada Lovelace ',
    tags: ['x', 'y'],
    createdAt: '2026-01-15T08:00:00Z',
  },
};

function run(source: string): unknown {
  return engine.evaluate(source, data);
}

describe('expression operators', () => {
  it('arithmetic on $json', () => {
    expect(run('$json.order.total * 1.2')).toBe(120);
    expect(run('$json.order.total % 30 + 2 ** 3 - -1')).toBe(19);
    expect(run('($json.order.total + 1) / 2')).toBe(50.5);
  });

  it('comparison and equality', () => {
    expect(run("$json.order.total > 99 && $json.order.currency === 'EUR'")).toBe(true);
    expect(run("'10' == 10")).toBe(true);
    expect(run('null == undefined')).toBe(true);
    expect(run("'10' === 10")).toBe(false);
    expect(run("'b' > 'a'")).toBe(true);
  });

  it('logical, nullish and conditional', () => {
    expect(run('$json.missing ?? "none"')).toBe('none');
    expect(run('$json.missing || 0 || "x"')).toBe('x');
    expect(run('$json.order.total > 50 ? "big" : "small"')).toBe('big');
    expect(run('!$json.tags')).toBe(false);
  });

  it('string concatenation follows JavaScript', () => {
    expect(run("'n' + 1 + 2")).toBe('n12');
    expect(run('1 + 2 + "n"')).toBe('3n');
    expect(run("'' + $json.tags")).toBe('x,y');
    expect(run("'' + $json.order.items[0]")).toBe('[object Object]');
    expect(run("'due ' + $today")).toBe('due 2026-01-31T00:00:00.000Z');
    expect(run('$now > $today')).toBe(true);
  });

  it('typeof and void', () => {
    expect(run('typeof $json.order')).toBe('object');
    expect(run('typeof $json.order.total')).toBe('number');
    expect(run('typeof $now')).toBe('object');
    expect(run('void 1')).toBeUndefined();
  });

  it('optional chaining skips missing fields', () => {
    expect(run('$json.nothing?.deep.deeper')).toBeUndefined();
    expect(run('$json.nothing?.trim()')).toBeUndefined();
    expect(run('$json.order?.items[1]?.sku')).toBe('b-2');
  });

  it('template literals interpolate values', () => {
    expect(run('`${$json.order.currency} ${$json.order.total}`')).toBe('EUR 100');
  });

  it('array and object literals with spread', () => {
    expect(run('[...$json.tags, "z"]')).toEqual(['x', 'y', 'z']);
    expect(run('{ ...$json.order.items[0], qty: 3 }')).toEqual({ sku: 'a-1', price: 5, qty: 3 });
    expect(run('{ ["k" + 1]: 1, "quoted key": 2 }')).toEqual({ k1: 1, 'quoted key': 2 });
    expect(run('Math.max(...$json.order.items.map(i => i.price))')).toBe(20);
  });

  it('"in" reads own keys only', () => {
    expect(run("'order' in $json")).toBe(true);
    expect(run("'hasOwn' in $json")).toBe(false);
    expect(run('1 in $json.tags')).toBe(true);
  });
});

describe('expression helpers', () => {
  it('string methods on values', () => {
    expect(run('$json.name.trim().toUpperCase()')).toBe('ADA LOVELACE');
    expect(run("$json.name.trim().split(' ')")).toEqual(['Ada', 'Lovelace']);
    expect(run("$json.name.includes('Ada')")).toBe(true);
    expect(run("$json.name.trim().slice(0, 3).padEnd(5, '.')")).toBe('Ada..');
    expect(run("'a-b-c'.replaceAll('-', '+')")).toBe('a+b+c');
    expect(run("'a-b-c'.replace('-', '+')")).toBe('a+b-c');
    expect(run("'ab'.repeat(3)")).toBe('ababab');
    expect(run('$json.name.trim().length')).toBe(12);
    expect(run('$json.name.trim()[0]')).toBe('A');
    expect(run("'x'.concat(1, 'y')")).toBe('x1y');
  });

  it('number methods on values', () => {
    expect(run('(1.005 * 100).toFixed(1)')).toBe('100.5');
    expect(run('$json.order.total.toPrecision(2)')).toBe('1.0e+2');
  });

  it('array helpers with arrow functions', () => {
    expect(run('$json.order.items.map(i => i.price * i.qty)')).toEqual([10, 20, 50]);
    expect(run('$json.order.items.filter(i => i.price > 10).map(i => i.sku)')).toEqual([
      'b-2',
      'c-3',
    ]);
    expect(run('$json.order.items.reduce((sum, i) => sum + i.price * i.qty, 0)')).toBe(80);
    expect(run("$json.order.items.find(i => i.sku === 'c-3').qty")).toBe(4);
    expect(run('$json.order.items.findIndex(i => i.qty === 1)')).toBe(1);
    expect(run('$json.order.items.some(i => i.qty > 3)')).toBe(true);
    expect(run('$json.order.items.every(i => i.qty > 3)')).toBe(false);
    expect(run('$json.order.items.map((i, index) => index)')).toEqual([0, 1, 2]);
  });

  it('array helpers without arrow functions', () => {
    expect(run("$json.tags.join('|')")).toBe('x|y');
    expect(run("$json.tags.includes('y')")).toBe(true);
    expect(run('[3, 1, 2].sort()')).toEqual([1, 2, 3]);
    expect(run('[3, 1, 2].sort((a, b) => b - a)')).toEqual([3, 2, 1]);
    expect(run('[1, [2, [3]]].flat()')).toEqual([1, 2, [3]]);
    expect(run('$json.tags.reverse()')).toEqual(['y', 'x']);
    expect(run('$json.tags')).toEqual(['x', 'y']);
    expect(run('[1, 2, 3].slice(1)')).toEqual([2, 3]);
    expect(run('[1, 2].concat([3], 4)')).toEqual([1, 2, 3, 4]);
    expect(run('[1, 2, 3].sum()')).toBe(6);
    expect(run('[1, 2, 3].first() + [1, 2, 3].last()')).toBe(4);
    expect(run('[1, 2, 3].at(-1)')).toBe(3);
  });

  it('global helpers such as Math', () => {
    expect(run("Number('42') + 1")).toBe(43);
    expect(run("String(12) + Boolean('')")).toBe('12false');
    expect(run("parseInt('0x1f', 16) + parseFloat('1.5')")).toBe(32.5);
    expect(run('Math.round(Math.PI * 100) / 100')).toBe(3.14);
    expect(run('Math.min(3, 1, 2)')).toBe(1);
    expect(run('Number.isInteger(4)')).toBe(true);
    expect(run('Array.isArray($json.tags)')).toBe(true);
    expect(run('Object.keys($json.order)')).toEqual(['total', 'currency', 'items']);
    expect(run('Object.entries({ a: 1 })')).toEqual([['a', 1]]);
    expect(run("Object.fromEntries([['a', 1], ['a', 2]])")).toEqual({ a: 2 });
  });

  it('JSON stringify and parse', () => {
    expect(run('JSON.stringify($json.tags)')).toBe('["x","y"]');
    expect(run('JSON.stringify({ a: [1, { b: null }] }, null, 2)')).toBe(
      JSON.stringify({ a: [1, { b: null }] }, null, 2),
    );
    expect(run('JSON.parse(\'{"a":[1,2]}\').a[1]')).toBe(2);
  });

  it('dates plus, minus and format', () => {
    expect(run("$now.plus(1, 'day')")).toBe('2026-02-01T10:30:00.000Z');
    expect(run("$now.plus(1, 'month')")).toBe('2026-02-28T10:30:00.000Z');
    expect(run("$now.minus(2, 'hours').format('yyyy-MM-dd HH:mm')")).toBe('2026-01-31 08:30');
    expect(run('$now.format("dd.MM.yyyy \'at\' HH:mm")')).toBe('31.01.2026 at 10:30');
    expect(run('$today')).toBe('2026-01-31T00:00:00.000Z');
    expect(run('$now.year * 100 + $now.month')).toBe(202601);
    expect(run('$now.weekday')).toBe(6);
    expect(run("$now.diff(DateTime.fromISO($json.createdAt), 'days')")).toBeCloseTo(16.1, 1);
    expect(run("DateTime.fromISO('2024-02-29').plus(1, 'year').toISO()")).toBe(
      '2025-02-28T00:00:00.000Z',
    );
    expect(run("$now.startOf('week').toISO()")).toBe('2026-01-26T00:00:00.000Z');
    expect(run("DateTime.fromISO('not a date')")).toBeNull();
  });

  it('host Date input becomes a date value', () => {
    expect(engine.evaluate("$d.plus(1, 'week')", { $d: new Date(NOW) })).toBe(
      '2026-02-07T10:30:00.000Z',
    );
  });

  it('unknown date unit is an error', () => {
    expect(() => run("$now.plus(1, 'fortnight')")).toThrow(ExpressionRuntimeError);
  });

  it('dates equal by instant under == and ===', () => {
    const same = "DateTime.fromISO('2026-02-01') OP DateTime.fromISO('2026-02-01')";
    expect(run(same.replace('OP', '=='))).toBe(true);
    expect(run(same.replace('OP', '==='))).toBe(true);
    expect(run(same.replace('OP', '!='))).toBe(false);
    expect(run(same.replace('OP', '!=='))).toBe(false);
    // Made differently, the same instant.
    expect(run('$now === DateTime.fromMillis($now.toMillis())')).toBe(true);
    expect(run("$today == DateTime.fromISO('2026-01-31T00:00:00Z')")).toBe(true);
    expect(run("$now.startOf('day') === $today")).toBe(true);
    const other = "DateTime.fromISO('2026-02-01') OP DateTime.fromISO('2026-02-02')";
    expect(run(other.replace('OP', '=='))).toBe(false);
    expect(run(other.replace('OP', '==='))).toBe(false);
    expect(run(other.replace('OP', '!='))).toBe(true);
    expect(run(other.replace('OP', '!=='))).toBe(true);
  });

  it('date compared with a number by milliseconds', () => {
    expect(run('$now == ' + String(NOW))).toBe(true);
    // === never converts: a date is not a number.
    expect(run('$now === ' + String(NOW))).toBe(false);
  });

  it('dates found in arrays by instant', () => {
    expect(run("[DateTime.fromISO('2026-02-01')].includes(DateTime.fromISO('2026-02-01'))")).toBe(
      true,
    );
    expect(run('[$today, $now].indexOf(DateTime.fromMillis($now.toMillis()))')).toBe(1);
    expect(run('[$today].includes($now)')).toBe(false);
  });

  it('date field called as method', () => {
    expect(() => run('$now.year()')).toThrow(
      '`year` is a property: write `.year` (line 1, column 6)',
    );
    expect(() => run('$now.weekday()')).toThrow('`weekday` is a property: write `.weekday`');
    expect(() => run('$json.tags.length()')).toThrow('`length` is a property: write `.length`');
    expect(() => run('$now.century()')).toThrow('century is not a method of a date');
  });
});

describe('expression results', () => {
  it('results are frozen', () => {
    const result = run('{ a: [1, { b: 2 }] }') as { a: [number, { b: number }] };
    expect(Object.isFrozen(result)).toBe(true);
    expect(Object.isFrozen(result.a)).toBe(true);
    expect(Object.isFrozen(result.a[1])).toBe(true);
    expect(Object.getPrototypeOf(result)).toBeNull();
  });

  it('PreparedData cannot wrap host objects', () => {
    expect(() => new PreparedData({}, Symbol('prepared'))).toThrow(TypeError);
  });

  it('sparse input array hits the data limit', () => {
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    // The data is read in place, so the limit applies once the array is read.
    expect(() => engine.evaluate('$json.length', { $json: sparse })).toThrow(
      new ExpressionLimitError('dataSize', 200_000),
    );
    expect(() => engine.evaluate('$json', { $json: sparse })).toThrow(
      new ExpressionLimitError('dataSize', 200_000),
    );
    expect(() => engine.prepare({ $json: sparse })).toThrow(
      new ExpressionLimitError('dataSize', 200_000),
    );
  });

  it('data is copied, not shared', () => {
    const input = { $json: { list: [1, 2] } };
    const result = engine.evaluate('$json.list', input) as number[];
    expect(result).toEqual([1, 2]);
    expect(result).not.toBe(input.$json.list);
    expect(Object.isFrozen(input.$json.list)).toBe(false);
  });

  it('computed keys stay out of messages', () => {
    expect(() => run('$json.missing[$json.name]')).toThrow(
      'cannot read a computed property of undefined (line 1, column 15)',
    );
    expect(() => run('$json.tags[$json.name]()')).toThrow(
      'the computed name is not a method of an array',
    );
    expect(() => run('$json.missing.trim()')).toThrow('cannot call method trim of undefined');
  });

  it('unknown variable is an error', () => {
    expect(() => run('$nope')).toThrow('variable $nope is not defined (line 1, column 1)');
  });

  it('syntax error names line and column', () => {
    expect(() => run('1 +\n  * 2')).toThrow(ExpressionSyntaxError);
    expect(() => run('1 +\n  * 2')).toThrow('line 2, column 3');
  });

  it('trailing text is a syntax error', () => {
    expect(() => run('1 2')).toThrow('unexpected text after the expression');
  });

  it('prepared data serves many evaluations', () => {
    const prepared = engine.prepare({ $json: { n: 2 } });
    expect(engine.evaluate('$json.n * 2', prepared)).toBe(4);
    expect(engine.evaluate('$json.n * 3', prepared)).toBe(6);
  });

  it('module functions use a default engine', () => {
    expect(evaluate('1 + 1')).toBe(2);
    expect(renderTemplate('{{ 1 + 1 }}!')).toBe('2!');
  });
});

describe('templates', () => {
  it('template with several parts', () => {
    expect(
      engine.renderTemplate(
        'Total: {{ $json.order.total * 1.2 }} {{ $json.order.currency }} for {{ $json.name.trim() }}',
        data,
      ),
    ).toBe('Total: 120 EUR for Ada Lovelace');
  });

  it('braces inside an expression', () => {
    expect(engine.renderTemplate("{{ { a: { b: '}}' } } }} end", data)).toBe(
      '{"a":{"b":"}}"}} end',
    );
  });

  it('null renders as nothing, arrays as JSON', () => {
    expect(engine.renderTemplate('[{{ null }}][{{ $json.tags }}]', data)).toBe('[][["x","y"]]');
  });

  it('date renders as ISO 8601', () => {
    expect(engine.renderTemplate("due {{ $now.plus(1, 'day') }}", data)).toBe(
      'due 2026-02-01T10:30:00.000Z',
    );
  });

  it('text without parts is unchanged', () => {
    expect(engine.renderTemplate('no parts here }}', data)).toBe('no parts here }}');
  });

  it('unclosed part is a syntax error', () => {
    expect(() => engine.renderTemplate('a {{ 1 + 1 b', data)).toThrow(
      'invalid expression syntax at line 1, column 11: expected }} after the expression',
    );
  });

  it('error position counts from the template start', () => {
    expect(() => engine.renderTemplate('line one\n{{ this }}', data)).toThrow(
      new ExpressionForbiddenError('this', { line: 2, column: 4 }),
    );
  });

  it('output limit covers the whole template', () => {
    const small = new ExpressionEngine({ limits: { maxOutputSize: 10 } });
    expect(() => small.renderTemplate("{{ 'abcdef' }}{{ 'abcdef' }}", {})).toThrow(
      new ExpressionLimitError('outputSize', 10),
    );
  });
});

describe('compile cache', () => {
  it('repeated source is compiled once', () => {
    const cached = new ExpressionEngine({ cacheSize: 2 });
    const first = cached.compile('1 + 1');
    expect(cached.compile('1 + 1')).toBe(first);
    expect(cached.cached).toBe(1);
  });

  it('least recently used entry is evicted', () => {
    const cached = new ExpressionEngine({ cacheSize: 2 });
    const a = cached.compile('1');
    cached.compile('2');
    cached.compile('1');
    cached.compile('3');
    expect(cached.compile('1')).toBe(a);
    expect(cached.cached).toBe(2);
  });

  it('cache size 0 keeps nothing', () => {
    const uncached = new ExpressionEngine({ cacheSize: 0 });
    expect(uncached.compile('1')).not.toBe(uncached.compile('1'));
    expect(uncached.cached).toBe(0);
  });

  it('invalid limits are rejected', () => {
    expect(() => new ExpressionEngine({ limits: { maxSteps: 0 } })).toThrow(
      'expression limit maxSteps must be a positive number',
    );
  });
});
