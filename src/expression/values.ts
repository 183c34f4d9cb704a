/**
 * The values expressions work on, and the conversions between them and host data.
 *
 * Inside an evaluation a value is a primitive (string, number, boolean, null, undefined), an
 * ExpressionDate, an array of values, or an object with a null prototype whose own
 * enumerable data properties are values. Nothing else, and in particular no function and no
 * host object, can be a value: the caller's data is read through host.ts and copied into
 * this form before an evaluation keeps any of it, and every helper returns it. Arrays and
 * objects that helpers build are frozen. Copies of the caller's data stay unfrozen, because
 * nothing in an evaluation writes to a value, and `toResult` freezes what is returned.
 */
import { ExpressionDate } from './date.js';
import { ExpressionLimitError } from './errors.js';
import { hostValue } from './host.js';

export type DataObject = { readonly [key: string]: Value };
export type Value =
  undefined | null | boolean | number | string | ExpressionDate | readonly Value[] | DataObject;

/** The result of `evaluate`: JSON-like frozen data, with dates as ISO 8601 strings. */
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
  const object = Object.create(null) as Record<string, Value>;
  // Assignment is safe here: without a prototype there is no `__proto__` setter, so every
  // key, `__proto__` included, becomes an own data property.
  for (const [key, value] of entries) object[key] = value;
  return Object.freeze(object);
}

/**
 * Reads an own property. Every DataObject is made by createObject or copyData, with a null
 * prototype and data properties only, so a plain read runs no getter and finds nothing
 * inherited.
 */
export function ownValue(object: DataObject, key: string): Value {
  return object[key];
}

/** Proves that a PreparedData was made by `prepareData`, whose scope is a copy. */
const PREPARED = Symbol('prepared');

/** Data copied once for many evaluations; create it with `ExpressionEngine.prepare`. */
export class PreparedData {
  readonly scope: DataObject;

  /** @internal */
  constructor(scope: DataObject, token: symbol) {
    // Without this check a caller could wrap a host object, whose getters would then run.
    if (token !== PREPARED)
      throw new TypeError('create PreparedData with ExpressionEngine.prepare');
    this.scope = scope;
    Object.freeze(this);
  }
}

/**
 * Copies host data into frozen expression values. Objects whose prototype is
 * Object.prototype or null become prototype-less objects of their own enumerable data
 * properties, whose getters are skipped and never run. Arrays stay arrays, Dates become
 * ExpressionDates, and bigints become numbers or, beyond 2^53, strings. Functions, symbols,
 * proxies and other objects (class instances, Maps, typed arrays) become undefined, as
 * `hostValue` defines.
 */
export function copyData(input: unknown, maxValues: number): Value {
  return new DataCopier(maxValues, true).visit(input, 0);
}

/**
 * A copier of host data, a class rather than closures so that a copy allocates no functions.
 * With `freeze` false the copies stay unfrozen for an evaluation's own use, because nothing
 * in an evaluation writes to a value and `toResult` freezes whatever is returned. Freezing a
 * prototype-less object costs more than copying it, and most copies are never returned.
 */
export class DataCopier {
  private count = 0;

  constructor(
    private readonly maxValues: number,
    private readonly freeze: boolean,
  ) {}

  visit(input: unknown, depth: number): Value {
    if (++this.count > this.maxValues) throw new ExpressionLimitError('dataSize', this.maxValues);
    if (depth > MAX_VALUE_DEPTH) throw new ExpressionLimitError('depth', MAX_VALUE_DEPTH);
    const value = hostValue(input);
    if (typeof value !== 'object' || value === null || value instanceof ExpressionDate)
      return value as Value;
    if (Array.isArray(value)) return this.array(value as unknown[], depth);
    return this.object(value, depth);
  }

  private array(value: unknown[], depth: number): readonly Value[] {
    const length = value.length;
    // Checked before the loop, because holes of a sparse array are not counted as values.
    if (length > this.maxValues) throw new ExpressionLimitError('dataSize', this.maxValues);
    const copy: Value[] = new Array<Value>(length);
    for (let index = 0; index < length; index++) {
      const descriptor = Object.getOwnPropertyDescriptor(value, index);
      copy[index] =
        descriptor && 'value' in descriptor ? this.visit(descriptor.value, depth + 1) : undefined;
    }
    return this.freeze ? Object.freeze(copy) : copy;
  }

  private object(value: object, depth: number): DataObject {
    const copy = Object.create(null) as Record<string, Value>;
    for (const key of Object.keys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
      if (!('value' in descriptor)) continue;
      const type = typeof descriptor.value;
      if (type === 'function' || type === 'symbol') continue;
      copy[key] = this.visit(descriptor.value, depth + 1);
    }
    return this.freeze ? Object.freeze(copy) : copy;
  }
}

/** Prepares the variables of evaluations, e.g. `{ $json: body }`, copying them once. */
export function prepareData(data: Record<string, unknown>, maxValues: number): PreparedData {
  const scope = copyData(data, maxValues);
  if (!isDataObject(scope)) throw new TypeError('expression data must be an object of variables');
  return new PreparedData(scope, PREPARED);
}

/**
 * Converts a value to the result form: dates become ISO strings, and arrays and objects are
 * frozen (copies of the caller's data are made unfrozen during an evaluation). Throws when
 * the JSON form would exceed `maxSize` characters.
 */
export function toResult(value: Value, maxSize: number): ExpressionResult {
  // Primitives need no walk; most expressions return one.
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'string' && value.length + 2 > maxSize)
      throw new ExpressionLimitError('outputSize', maxSize);
    return value;
  }
  return new ResultConverter(maxSize).visit(value, 0);
}

/** A class rather than closures, so that a call of toResult allocates no functions. */
class ResultConverter {
  private size = 0;

  constructor(private readonly maxSize: number) {}

  private grow(amount: number): void {
    this.size += amount;
    if (this.size > this.maxSize) throw new ExpressionLimitError('outputSize', this.maxSize);
  }

  visit(item: Value, depth: number): ExpressionResult {
    if (depth > MAX_VALUE_DEPTH) throw new ExpressionLimitError('depth', MAX_VALUE_DEPTH);
    if (item === null || item === undefined) {
      this.grow(4);
      return item;
    }
    switch (typeof item) {
      case 'string':
        this.grow(item.length + 2);
        return item;
      case 'number':
      case 'boolean':
        this.grow(8);
        return item;
    }
    if (item instanceof ExpressionDate) {
      this.grow(26);
      return item.toISO();
    }
    if (Array.isArray(item)) {
      const array = item as readonly Value[];
      this.grow(2 + array.length);
      let changed = false;
      const converted: ExpressionResult[] = [];
      for (const element of array) {
        const result = this.visit(element, depth + 1);
        if (result !== element) changed = true;
        converted.push(result);
      }
      return Object.freeze(changed ? converted : (array as ExpressionResult[]));
    }
    const object = item as DataObject;
    let changed = false;
    const entries: [string, Value][] = [];
    for (const key of Object.keys(object)) {
      this.grow(key.length + 4);
      const element = ownValue(object, key);
      const result = this.visit(element, depth + 1);
      if (result !== element) changed = true;
      entries.push([key, result as Value]);
    }
    return (changed ? createObject(entries) : Object.freeze(object)) as ExpressionResult;
  }
}
