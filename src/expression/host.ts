/**
 * Safe reads of the caller's data. An evaluation reads the variables it is given in place,
 * without copying them first, so every read goes through these functions, which run no code
 * of the data's: no getter, no proxy trap, no `toJSON`, `valueOf` or iterator.
 *
 * Only these containers are read: objects whose prototype is Object.prototype or null,
 * arrays whose prototype is Array.prototype, host Dates and ExpressionDates. Of a container
 * only own enumerable data properties are read, through their descriptors. Everything else
 * (functions, symbols, proxies, class instances, Maps, typed arrays, boxed primitives)
 * reads as undefined, so it cannot reach an expression. Whatever an expression keeps beyond
 * a property read (a result, a method's receiver, a helper's argument) is copied by
 * `copyData` into frozen values first.
 */
import { types } from 'node:util';

import { ExpressionDate } from './date.js';

/** The kinds of caller objects that an evaluation may read; anything else reads as undefined. */
export type HostKind = 'object' | 'array' | 'date' | 'expressionDate';

const getTime = Date.prototype.getTime;

/**
 * Classifies a caller object. Proxies are checked first, because `Object.getPrototypeOf` and
 * `instanceof` on a proxy run its traps.
 */
export function classifyHost(value: object): HostKind | undefined {
  if (types.isProxy(value)) return undefined;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype === Object.prototype || prototype === null) return 'object';
  if (prototype === Array.prototype) return Array.isArray(value) ? 'array' : undefined;
  if (prototype === ExpressionDate.prototype) return 'expressionDate';
  if (types.isDate(value)) return 'date';
  return undefined;
}

/**
 * Converts a value read from the caller's data to what an evaluation may hold. Primitives
 * stay as they are, and bigints become numbers, or strings beyond 2^53. Plain objects and
 * arrays stay too, because they are read through `readHostProperty` and copied before they
 * are kept. Dates become ExpressionDates, and everything else becomes undefined.
 */
export function hostValue(value: unknown): unknown {
  switch (typeof value) {
    case 'undefined':
    case 'boolean':
    case 'number':
    case 'string':
      return value;
    case 'bigint':
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  switch (classifyHost(value as object)) {
    case 'object':
    case 'array':
    case 'expressionDate':
      return value;
    case 'date':
      // Date.prototype.getTime is called directly, so a subclass's override does not run.
      return ExpressionDate.fromEpoch(getTime.call(value as Date)) ?? null;
    default:
      return undefined;
  }
}

/** Marks a property that is absent, an accessor, not enumerable, or a function or symbol. */
export const ABSENT: unique symbol = Symbol('absent');

/**
 * Reads the own enumerable data property `key` of a plain object or an array the caller
 * passed, converted by `hostValue`, or ABSENT. The descriptor is read, never the property,
 * so a getter does not run.
 */
export function readHostProperty(container: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(container, key);
  if (descriptor === undefined || !descriptor.enumerable || !('value' in descriptor)) return ABSENT;
  const raw: unknown = descriptor.value;
  if (typeof raw === 'function' || typeof raw === 'symbol') return ABSENT;
  return hostValue(raw);
}
