/**
 * The values expressions work on, and the conversions between them and host data.
 *
 * Inside an evaluation a value is a primitive (string, number, boolean, null, undefined), an
 * ExpressionDate, a frozen array of values, or a frozen object with a null prototype whose
 * own enumerable data properties are values. Nothing else, and in particular no function and
 * no host object, can be a value: data is copied into this form before an evaluation and
 * every helper returns it.
 */
import { ExpressionDate } from './date.js';
import { ExpressionLimitError } from './errors.js';

export type DataObject = { readonly [key: string]: Value };
export type Value =
  | undefined
  | null
  | boolean
  | number
  | string
  | ExpressionDate
  | readonly Value[]
  | DataObject;

/** What `evaluate` returns: JSON-like frozen data, with dates as ISO 8601 strings. */
export type ExpressionResult =
  | undefined
  | null
  | boolean
  | number
  | string
  | readonly ExpressionResult[]
  | { readonly [key: string]: ExpressionResult };

/**
 * Maximum nesting of data copied in or converted out. Arrays nested by `reduce` can be deeper
 * than the source's AST, so every recursive conversion stops here instead of at the stack's end.
 */
export const MAX_VALUE_DEPTH = 256;

export function isDataObject(value: Value): value is DataObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof ExpressionDate)
  );
}

/** Creates a frozen, prototype-less object from entries that the caller has checked. */
export function createObject(entries: Iterable<readonly [string, Value]>): DataObject {
  const object: Record<string, Value> = Object.create(null) as Record<string, Value>;
  // defineProperty rather than assignment, so that no key, `__proto__` included, is special.
  for (const [key, value] of entries)
    Object.defineProperty(object, key, { value, enumerable: true, writable: false });
  return Object.freeze(object);
}

/** Reads an own data property; never runs a getter and never reads an inherited property. */
export function ownValue(object: DataObject, key: string): Value {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  return descriptor === undefined ? undefined : (descriptor.value as Value);
}

/** Data copied once for many evaluations; create it with `prepareData`. */
export class PreparedData {
  readonly scope: DataObject;

  /** @internal */
  constructor(scope: DataObject) {
    this.scope = scope;
    Object.freeze(this);
  }
}

/**
 * Copies host data into expression values: plain objects and class instances become frozen
 * prototype-less objects of their own enumerable data properties (getters are skipped, never
 * run), arrays become frozen arrays, Dates become ExpressionDates, bigints become numbers or,
 * beyond 2^53, strings. Functions and symbols are dropped.
 */
export function copyData(input: unknown, maxValues: number): Value {
  let count = 0;
  const visit = (value: unknown, depth: number): Value => {
    if (++count > maxValues) throw new ExpressionLimitError('dataSize', maxValues);
    if (depth > MAX_VALUE_DEPTH) throw new ExpressionLimitError('depth', MAX_VALUE_DEPTH);
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
    if (value instanceof ExpressionDate) return value;
    if (value instanceof Date) return ExpressionDate.fromEpoch(value.getTime()) ?? null;
    if (Array.isArray(value)) {
      const length = (value as unknown[]).length;
      const copy: Value[] = new Array<Value>(length);
      for (let index = 0; index < length; index++) {
        const descriptor = Object.getOwnPropertyDescriptor(value, index);
        copy[index] =
          descriptor && 'value' in descriptor ? visit(descriptor.value, depth + 1) : undefined;
      }
      return Object.freeze(copy);
    }
    const entries: [string, Value][] = [];
    for (const key of Object.keys(value as object)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
      if (!('value' in descriptor)) continue;
      const copied = visit(descriptor.value, depth + 1);
      if (typeof descriptor.value !== 'function' && typeof descriptor.value !== 'symbol')
        entries.push([key, copied]);
    }
    return createObject(entries);
  };
  return visit(input, 0);
}

/** Prepares the variables of evaluations, e.g. `{ $json: body }`, copying them once. */
export function prepareData(data: Record<string, unknown>, maxValues: number): PreparedData {
  const scope = copyData(data, maxValues);
  if (!isDataObject(scope)) throw new TypeError('expression data must be an object of variables');
  return new PreparedData(scope);
}

/**
 * Converts a value to the result form: dates become ISO strings, everything else is kept
 * (it is already frozen). Throws when the JSON form would exceed `maxSize` characters.
 */
export function toResult(value: Value, maxSize: number): ExpressionResult {
  let size = 0;
  const grow = (amount: number): void => {
    size += amount;
    if (size > maxSize) throw new ExpressionLimitError('outputSize', maxSize);
  };
  const visit = (item: Value, depth: number): ExpressionResult => {
    if (depth > MAX_VALUE_DEPTH) throw new ExpressionLimitError('depth', MAX_VALUE_DEPTH);
    if (item === null || item === undefined) {
      grow(4);
      return item;
    }
    switch (typeof item) {
      case 'string':
        grow(item.length + 2);
        return item;
      case 'number':
      case 'boolean':
        grow(8);
        return item;
    }
    if (item instanceof ExpressionDate) {
      grow(26);
      return item.toISO();
    }
    if (Array.isArray(item)) {
      const array = item as readonly Value[];
      grow(2 + array.length);
      let changed = false;
      const converted = array.map((element) => {
        const result = visit(element, depth + 1);
        if (result !== element) changed = true;
        return result;
      });
      return changed ? Object.freeze(converted) : (array as readonly ExpressionResult[]);
    }
    const object = item as DataObject;
    let changed = false;
    const entries: [string, Value][] = [];
    for (const key of Object.keys(object)) {
      grow(key.length + 4);
      const element = ownValue(object, key);
      const result = visit(element, depth + 1);
      if (result !== element) changed = true;
      entries.push([key, result as Value]);
    }
    return (changed ? createObject(entries) : object) as ExpressionResult;
  };
  return visit(value, 0);
}
