/**
 * The state of one evaluation, shared by the compiled closures of an expression: the budget,
 * the variables, the position for error messages, and the property reads that check names
 * at run time.
 *
 * Variables are read in place. When the caller passes plain data, a property chain that
 * starts at a variable (`$json.order.total`) reads the caller's objects through
 * `readHostProperty`, which runs no code of theirs. Only an object or an array that leaves
 * such a chain is copied (`toValue`). Prepared data is already a copy and is read directly.
 */
import { toStr } from './coerce.js';
import { BLOCKED_PROPERTIES, positionAt } from './compile.js';
import { ExpressionDate } from './date.js';
import { ExpressionAccessError, ExpressionLimitError, ExpressionRuntimeError } from './errors.js';
import { findMethod, Lambda, type Runtime } from './helpers.js';
import { ABSENT, readHostProperty } from './host.js';
import type { Budget } from './limits.js';
import { DataCopier, ownValue, type DataObject, type Value } from './values.js';

/** The arguments of the arrow functions being called, innermost last. */
export interface Environment {
  readonly values: readonly Value[];
  readonly parent: Environment | undefined;
}

/** Marks a short-circuited optional chain (`a?.b.c` with `a` nullish) until its end. */
export const SHORT_CIRCUIT: unique symbol = Symbol('short-circuit');
export type Result = Value | typeof SHORT_CIRCUIT;

/**
 * A compiled node. Data-chain closures may also return a caller's plain object or array,
 * which only `Evaluation.readData` and `Evaluation.toValue` accept.
 */
export type Closure = (evaluation: Evaluation, env: Environment | undefined) => Result;

const INDEX = /^(0|[1-9]\d*)$/;

export class Evaluation implements Runtime {
  /** Offset of the node being evaluated, for the position of runtime errors. */
  at = 0;

  /** `$now` of this evaluation, read from the clock on first use. */
  private now: ExpressionDate | undefined;

  /** Copies of the caller's objects made in this evaluation, so each is copied once. */
  private copies: Map<object, Value> | undefined;
  private copier: DataCopier | undefined;

  /**
   * @param scope the variables: the caller's plain object when `hostData` is true, else a
   *   PreparedData scope
   */
  constructor(
    readonly budget: Budget,
    private readonly source: string,
    private readonly scope: object,
    readonly hostData: boolean,
    private readonly clock: () => number,
  ) {}

  fail(message: string): never {
    throw new ExpressionRuntimeError(message, positionAt(this.source, this.at));
  }

  failAt(at: number, message: string): never {
    this.at = at;
    return this.fail(message);
  }

  checkKey(key: string): string {
    if (BLOCKED_PROPERTIES.has(key))
      throw new ExpressionAccessError(key, positionAt(this.source, this.at));
    return key;
  }

  /** Converts a computed key to a property name, as JavaScript does, then checks it. */
  key(value: Result, at: number): string {
    this.at = at;
    if (value === SHORT_CIRCUIT) return this.fail('invalid property name');
    const key = typeof value === 'string' ? value : toStr(value, this.budget);
    return this.checkKey(key);
  }

  invoke(fn: Lambda, args: readonly Value[]): Value {
    const budget = this.budget;
    if (++budget.callDepth > budget.limits.maxCallDepth)
      throw new ExpressionLimitError('callDepth', budget.limits.maxCallDepth);
    try {
      const values =
        args.length >= fn.parameters
          ? args
          : [...args, ...new Array<Value>(fn.parameters - args.length)];
      const env: Environment = { values, parent: fn.env as Environment | undefined };
      const result = (fn.body as Closure)(this, env);
      return result === SHORT_CIRCUIT ? undefined : result;
    } finally {
      budget.callDepth--;
    }
  }

  /**
   * Reads a variable; `$now` and `$today` come from the clock unless the data sets them. With
   * the caller's data the result may be a plain object or array of theirs, for `readData`.
   */
  variable(name: string, at: number): unknown {
    if (this.hostData) {
      const value = readHostProperty(this.scope, name);
      if (value !== ABSENT) return value;
    } else {
      const scope = this.scope as DataObject;
      const value = ownValue(scope, name);
      if (value !== undefined || name in scope) return value;
    }
    if (name === '$now' || name === '$today') {
      this.now ??= ExpressionDate.fromEpoch(this.clock())!;
      return name === '$now' ? this.now : this.now.startOf('day');
    }
    return this.failAt(at, `variable ${name} is not defined`);
  }

  /**
   * Turns what a data chain read into a value the evaluation may keep: a caller's object or
   * array is copied, once per evaluation, within the `maxDataValues` limit. The copy is
   * frozen only if it becomes part of the result, see `toResult`.
   */
  toValue(raw: unknown): Value {
    if (typeof raw !== 'object' || raw === null || !this.hostData) return raw as Value;
    if (raw instanceof ExpressionDate) return raw;
    this.copies ??= new Map();
    let copy = this.copies.get(raw);
    if (copy === undefined) {
      this.copier ??= new DataCopier(this.budget.limits.maxDataValues, false);
      copy = this.copier.visit(raw, 0);
      this.copies.set(raw, copy);
    }
    return copy;
  }

  /**
   * Reads `key` of a value a data chain read from the caller's data: only own enumerable
   * data properties of plain objects and arrays, never a getter or a proxy trap. `key` has
   * passed `checkKey`, or was written in the source and checked by the compiler.
   */
  readData(object: unknown, key: string, computed: boolean, at: number): unknown {
    if (typeof object !== 'object' || object === null || object instanceof ExpressionDate)
      return this.readProperty(object as Value, key, computed, at);
    if (Array.isArray(object)) {
      const length = (object as unknown[]).length;
      // A sparse array can claim 2^32 - 1 elements; its copy would be checked the same way.
      if (length > this.budget.limits.maxDataValues)
        throw new ExpressionLimitError('dataSize', this.budget.limits.maxDataValues);
      if (key === 'length') return length;
      if (INDEX.test(key)) {
        const value = readHostProperty(object, key);
        return value === ABSENT ? undefined : value;
      }
    } else {
      const value = readHostProperty(object, key);
      return value === ABSENT ? undefined : value;
    }
    return this.noProperty(object as Value, key, at);
  }

  /**
   * Reads `key` of a value the evaluation made or copied. A computed key may come from the
   * data, so messages name the key only when the source wrote it.
   */
  readProperty(object: Value, key: string, computed: boolean, at: number): Value {
    if (object === null || object === undefined) {
      const what = computed ? 'a computed property' : `property "${key}"`;
      this.failAt(at, `cannot read ${what} of ${String(object)}`);
    }
    if (typeof object === 'object') {
      if (Array.isArray(object)) {
        const array = object as readonly Value[];
        if (key === 'length') return array.length;
        if (INDEX.test(key)) return array[Number(key)];
      } else if (object instanceof ExpressionDate) {
        const field = object.field(key);
        if (field !== undefined) return field;
      } else {
        return ownValue(object as DataObject, key);
      }
    } else if (typeof object === 'string') {
      if (key === 'length') return object.length;
      if (INDEX.test(key)) return object[Number(key)];
    }
    return this.noProperty(object, key, at);
  }

  /** A property that is not there: undefined, unless it names a method, which must be called. */
  private noProperty(object: Value, key: string, at: number): undefined {
    if (findMethod(object, key) !== undefined)
      this.failAt(at, `method ${key} can only be called, not read`);
    return undefined;
  }
}
