/**
 * Sanitizing of user input that becomes part of a MongoDB query. A JSON body such as
 * `{"password": {"$ne": null}}` turns an equality test into an operator, and a key with a dot
 * reaches into nested fields, so both kinds of key are removed or rejected before the value
 * reaches a driver.
 */

import { BulwarkError, InvalidArgumentError } from '../core/errors.js';

/** Reason a query value was rejected. */
export type MongoQueryRejection =
  | 'operator_key'
  | 'dotted_key'
  | 'prototype_key'
  | 'null_byte_key'
  | 'unsupported_value'
  | 'too_deep'
  | 'too_many_keys';

const REASON_TEXT: Record<MongoQueryRejection, string> = {
  operator_key: 'a key starts with "$"',
  dotted_key: 'a key contains "."',
  prototype_key: 'a key is __proto__, constructor or prototype',
  null_byte_key: 'a key contains a NUL character',
  unsupported_value: 'a value is not a JSON type or a Date',
  too_deep: 'objects and arrays are nested too deeply',
  too_many_keys: 'there are too many keys and array items',
};

/** Maximum length of the field path kept on the error. */
const MAX_PATH_LENGTH = 200;

/**
 * Thrown in `reject` mode for a forbidden key or value, and in both modes when the depth or
 * key-count limit is exceeded. `path` is the dotted path of the offending field, cut to 200
 * characters. It is built from user keys, so log it escaped, and it never appears in the
 * message.
 */
export class MongoQueryRejectedError extends BulwarkError {
  readonly reason: MongoQueryRejection;
  readonly path: string;

  constructor(reason: MongoQueryRejection, path: string) {
    super('BWK_ERR_MONGO_QUERY_REJECTED', `Query value rejected: ${REASON_TEXT[reason]}.`);
    this.reason = reason;
    this.path = path.slice(0, MAX_PATH_LENGTH);
  }
}

export interface SanitizeMongoQueryOptions {
  /** `strip` removes forbidden keys and values; `reject` throws on the first one. */
  mode: 'strip' | 'reject';
  /** Maximum nesting of objects and arrays; the top level is depth 1. Default 32. */
  maxDepth?: number;
  /** Maximum number of object keys and array items in total. Default 10,000. */
  maxKeys?: number;
}

interface Walk {
  reject: boolean;
  maxDepth: number;
  maxKeys: number;
  keys: number;
}

const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

// Returned by `sanitizeValue` for a value that strip mode drops.
const DROP = Symbol('drop');

/**
 * Returns a copy of `value` without keys that start with `$` or contain `.`, at any depth and
 * inside arrays, as in `{"$where": ...}` or `{"user": {"$ne": null}}`. The keys `__proto__`,
 * `constructor` and `prototype` go too, and so do values that JSON cannot carry (functions,
 * symbols, RegExp, class instances) except `Date`. A key with NUL is removed too, because
 * BSON cannot store it. In `reject` mode each of these throws `MongoQueryRejectedError`
 * instead.
 *
 * The input is never changed. Only own enumerable keys are read, so nothing on a prototype
 * chain is walked. Strings starting with `$` are kept: in a `find` filter they are plain
 * values, but in an aggregation pipeline they name fields, so do not pass user strings to a
 * pipeline stage as expressions.
 */
export function sanitizeMongoQuery(value: unknown, options: SanitizeMongoQueryOptions): unknown {
  const walk: Walk = {
    reject: parseMode(options.mode),
    maxDepth: parseLimit('maxDepth', options.maxDepth ?? 32, 1_000),
    maxKeys: parseLimit('maxKeys', options.maxKeys ?? 10_000, 10_000_000),
    keys: 0,
  };

  const result = sanitizeValue(value, '', 0, walk);
  return result === DROP ? undefined : result;
}

function sanitizeValue(value: unknown, path: string, depth: number, walk: Walk): unknown {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
  if (value instanceof Date) return new Date(value.getTime());

  if (Array.isArray(value)) return sanitizeArray(value, path, depth + 1, walk);
  if (isPlainObject(value)) return sanitizeObject(value, path, depth + 1, walk);
  return forbid('unsupported_value', path, walk);
}

function sanitizeArray(items: unknown[], path: string, depth: number, walk: Walk): unknown[] {
  checkDepth(depth, path, walk);
  const copy: unknown[] = [];

  for (let index = 0; index < items.length; index++) {
    countKey(path, walk);
    const item = sanitizeValue(items[index], joinPath(path, String(index)), depth, walk);
    if (item !== DROP) copy.push(item);
  }
  return copy;
}

function sanitizeObject(
  object: Record<string, unknown>,
  path: string,
  depth: number,
  walk: Walk,
): Record<string, unknown> {
  checkDepth(depth, path, walk);
  const copy: Record<string, unknown> = {};

  for (const key of Object.keys(object)) {
    countKey(path, walk);
    const keyPath = joinPath(path, key);
    const problem = keyProblem(key);
    if (problem) {
      forbid(problem, keyPath, walk);
      continue;
    }

    const item = sanitizeValue(object[key], keyPath, depth, walk);
    if (item !== DROP) copy[key] = item;
  }
  return copy;
}

function keyProblem(key: string): MongoQueryRejection | undefined {
  if (PROTOTYPE_KEYS.has(key)) return 'prototype_key';
  if (key.startsWith('$')) return 'operator_key';
  if (key.includes('.')) return 'dotted_key';
  if (key.includes('\0')) return 'null_byte_key';
  return undefined;
}

// Only objects made by JSON.parse, literals or Object.create(null) are walked, because a
// class instance may have getters or a custom BSON form.
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function forbid(reason: MongoQueryRejection, path: string, walk: Walk): typeof DROP {
  if (walk.reject) throw new MongoQueryRejectedError(reason, path);
  return DROP;
}

function checkDepth(depth: number, path: string, walk: Walk): void {
  if (depth > walk.maxDepth) throw new MongoQueryRejectedError('too_deep', path);
}

function countKey(path: string, walk: Walk): void {
  walk.keys += 1;
  if (walk.keys > walk.maxKeys) throw new MongoQueryRejectedError('too_many_keys', path);
}

function joinPath(path: string, key: string): string {
  if (path.length >= MAX_PATH_LENGTH) return path;
  return path === '' ? key : `${path}.${key}`;
}

function parseMode(mode: unknown): boolean {
  if (mode === 'reject') return true;
  if (mode === 'strip') return false;
  throw new InvalidArgumentError('mode must be "strip" or "reject"');
}

function parseLimit(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}
