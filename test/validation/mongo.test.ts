import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  MongoQueryRejectedError,
  sanitizeMongoQuery,
  type MongoQueryRejection,
} from '../../src/validation/mongo.js';

const strip = (value: unknown): unknown => sanitizeMongoQuery(value, { mode: 'strip' });

function rejection(value: unknown): MongoQueryRejectedError | undefined {
  try {
    sanitizeMongoQuery(value, { mode: 'reject' });
  } catch (error) {
    if (error instanceof MongoQueryRejectedError) return error;
    throw error;
  }
  return undefined;
}

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('sanitizeMongoQuery in strip mode', () => {
  it('keeps a harmless query', () => {
    const query = { name: 'ada', age: 36, tags: ['x', 'y'], address: { city: 'Paris' }, ok: null };

    expect(strip(query)).toEqual(query);
  });

  it('removes operator keys', () => {
    expect(strip({ user: 'admin', password: { $ne: null } })).toEqual({
      user: 'admin',
      password: {},
    });
    expect(strip({ $where: 'sleep(1000)', name: 'a' })).toEqual({ name: 'a' });
  });

  it('removes operators at any depth', () => {
    const query = {
      a: { b: { c: { $regex: '.*' } } },
      list: [{ $gt: '' }, 'plain', [{ $in: [1] }]],
    };

    expect(strip(query)).toEqual({ a: { b: { c: {} } }, list: [{}, 'plain', [{}]] });
  });

  it('removes dotted keys', () => {
    expect(strip({ 'profile.role': 'admin', name: 'a' })).toEqual({ name: 'a' });
  });

  it('removes prototype keys', () => {
    const query = JSON.parse(
      '{"__proto__": {"isAdmin": true}, "constructor": {"prototype": {"x": 1}}, "name": "a"}',
    ) as unknown;

    const result = strip(query) as Record<string, unknown>;

    expect(result).toEqual({ name: 'a' });
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('removes a key with NUL', () => {
    expect(strip({ 'a\0b': 1, c: 2 })).toEqual({ c: 2 });
  });

  it('drops values JSON cannot carry', () => {
    const query = { re: /admin/, fn: () => 1, list: [new Map(), 'x'], when: new Date(0) };

    expect(strip(query)).toEqual({ list: ['x'], when: new Date(0) });
  });

  it('never changes the input', () => {
    const query = { password: { $ne: null }, list: [{ $gt: 1 }] };
    const before = structuredClone(query);

    strip(query);

    expect(query).toEqual(before);
  });

  it('drops an object with another prototype unread', () => {
    const inherited = Object.create({ $where: 'x' }) as Record<string, unknown>;
    inherited.name = 'a';

    expect(strip({ q: inherited, name: 'b' })).toEqual({ name: 'b' });
  });

  it('accepts an object without prototype', () => {
    const query = Object.assign(Object.create(null) as object, { name: 'a', $gt: 1 });

    expect(strip(query)).toEqual({ name: 'a' });
  });

  it('keeps strings starting with $', () => {
    expect(strip({ name: '$ne' })).toEqual({ name: '$ne' });
  });
});

describe('sanitizeMongoQuery in reject mode', () => {
  const cases: [string, unknown, MongoQueryRejection, string][] = [
    ['$ne', { password: { $ne: null } }, 'operator_key', 'password.$ne'],
    ['$where', { $where: 'this.a' }, 'operator_key', '$where'],
    [
      '$regex in an array',
      { or: [{ name: { $regex: '^a' } }] },
      'operator_key',
      'or.0.name.$regex',
    ],
    ['$gt', { age: { $gt: 0 } }, 'operator_key', 'age.$gt'],
    ['dotted key', { 'a.b': 1 }, 'dotted_key', 'a.b'],
    ['__proto__', JSON.parse('{"__proto__": {}}'), 'prototype_key', '__proto__'],
    ['constructor', { constructor: { prototype: {} } }, 'prototype_key', 'constructor'],
    ['RegExp value', { name: /a/ }, 'unsupported_value', 'name'],
  ];

  it.each(cases)('rejects %s', (_title, query, reason, path) => {
    const error = rejection(query);

    expect(error?.reason).toBe(reason);
    expect(error?.path).toBe(path);
    expect(error?.code).toBe('BWK_ERR_MONGO_QUERY_REJECTED');
  });

  it('returns a copy of a clean query', () => {
    const query = { name: 'ada', tags: ['a'] };
    const result = sanitizeMongoQuery(query, { mode: 'reject' });

    expect(result).toEqual(query);
    expect(result).not.toBe(query);
  });

  it('keeps user keys out of the message', () => {
    expect(rejection({ secretField: { $ne: 1 } })?.message).not.toContain('secretField');
  });
});

describe('sanitizeMongoQuery limits', () => {
  it('accepts nesting up to maxDepth', () => {
    expect(sanitizeMongoQuery(nested(5), { mode: 'strip', maxDepth: 5 })).toEqual(nested(5));
  });

  it('rejects deeper nesting in both modes', () => {
    for (const mode of ['strip', 'reject'] as const) {
      expect(() => sanitizeMongoQuery(nested(6), { mode, maxDepth: 5 })).toThrow(
        expect.objectContaining({ reason: 'too_deep' }),
      );
    }
  });

  it('survives very deep input with the default limit', () => {
    expect(() => strip(nested(100_000))).toThrow(expect.objectContaining({ reason: 'too_deep' }));
  });

  it('counts keys and array items together', () => {
    const query = { a: [1, 2, 3], b: 1 };

    expect(sanitizeMongoQuery(query, { mode: 'strip', maxKeys: 5 })).toEqual(query);
    expect(() => sanitizeMongoQuery(query, { mode: 'strip', maxKeys: 4 })).toThrow(
      expect.objectContaining({ reason: 'too_many_keys' }),
    );
  });

  it('rejects invalid options', () => {
    expect(() => sanitizeMongoQuery({}, { mode: 'drop' as 'strip' })).toThrow(InvalidArgumentError);
    expect(() => sanitizeMongoQuery({}, { mode: 'strip', maxDepth: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => sanitizeMongoQuery({}, { mode: 'strip', maxKeys: 1.5 })).toThrow(
      InvalidArgumentError,
    );
  });
});
