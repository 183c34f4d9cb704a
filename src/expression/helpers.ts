/**
 * The functions expressions can call: methods of strings, numbers, arrays and dates, and the
 * global helpers (`Math.max`, `JSON.stringify`, `Object.keys`, ...). Each is a wrapper written
 * here that takes and returns expression values; no host function object is ever handed to
 * an expression. Each is pure: it reads its arguments and builds new frozen values.
 *
 * No helper accepts a regular expression: regular expression literals are rejected by the
 * compiler, and `replace`, `replaceAll`, `split` and `includes` match literal strings only,
 * so no expression can make a backtracking regex engine run for exponential time.
 */
import { strictEquals, toJson, toNumber, toStr, truthy } from './coerce.js';
import { ExpressionDate, parseDateUnit, type DateUnit } from './date.js';
import { ExpressionLimitError } from './errors.js';
import type { Budget } from './limits.js';
import { copyData, createObject, isDataObject, ownValue, type Value } from './values.js';

/** An arrow function passed to a helper; created by the evaluator, never a value. */
export class Lambda {
  constructor(
    readonly parameters: number,
    /** The compiled body and the environment it closes over, opaque here. */
    readonly body: unknown,
    readonly env: unknown,
  ) {}
}

export type Argument = Value | Lambda;

/** The services of the evaluation that a running helper may use. */
export interface Runtime {
  readonly budget: Budget;
  /** Calls an arrow function, counting call depth and steps. */
  invoke(fn: Lambda, args: readonly Value[]): Value;
  /** Throws an ExpressionRuntimeError at the position of the current call. */
  fail(message: string): never;
  /** Throws an ExpressionAccessError when `key` is a blocked property name. */
  checkKey(key: string): string;
}

type Helper = (rt: Runtime, args: readonly Argument[]) => Value;
type Method<Self> = (rt: Runtime, self: Self, args: readonly Argument[]) => Value;

function freezeArray(array: Value[], budget: Budget): readonly Value[] {
  budget.checkArrayLength(array.length);
  return Object.freeze(array);
}

function valueArg(rt: Runtime, args: readonly Argument[], index: number): Value {
  const arg = args[index];
  if (arg instanceof Lambda) rt.fail(`argument ${index + 1} must not be a function`);
  return arg;
}

function stringArg(rt: Runtime, args: readonly Argument[], index: number, name: string): string {
  const arg = valueArg(rt, args, index);
  if (typeof arg !== 'string') rt.fail(`${name}: argument ${index + 1} must be a string`);
  return arg;
}

function numberArg(
  rt: Runtime,
  args: readonly Argument[],
  index: number,
  fallback?: number,
): number {
  const arg = valueArg(rt, args, index);
  if (arg === undefined && fallback !== undefined) return fallback;
  return toNumber(arg);
}

function integerArg(
  rt: Runtime,
  args: readonly Argument[],
  index: number,
  name: string,
  range: [number, number],
  fallback?: number,
): number {
  const value = numberArg(rt, args, index, fallback);
  if (!Number.isInteger(value) || value < range[0] || value > range[1])
    rt.fail(`${name}: argument ${index + 1} must be an integer from ${range[0]} to ${range[1]}`);
  return value;
}

function lambdaArg(rt: Runtime, args: readonly Argument[], index: number, name: string): Lambda {
  const arg = args[index];
  if (!(arg instanceof Lambda)) rt.fail(`${name}: argument ${index + 1} must be an arrow function`);
  return arg;
}

function unitArg(rt: Runtime, args: readonly Argument[], index: number, name: string): DateUnit {
  const unit = parseDateUnit(stringArg(rt, args, index, name));
  if (unit === undefined)
    rt.fail(
      `${name}: unknown unit; use millisecond, second, minute, hour, day, week, month or year`,
    );
  return unit;
}

function dateResult(rt: Runtime, date: ExpressionDate | undefined, name: string): ExpressionDate {
  if (date === undefined) rt.fail(`${name}: the result is outside the supported date range`);
  return date;
}

/** Replaces literal occurrences of `search`; `$` in the replacement has no special meaning. */
function replaceLiteral(
  rt: Runtime,
  self: string,
  search: string,
  replacement: string,
  all: boolean,
): string {
  const limit = rt.budget.limits.maxStringLength;
  if (!all) {
    const index = self.indexOf(search);
    if (index === -1) return self;
    return rt.budget.checkString(
      self.slice(0, index) + replacement + self.slice(index + search.length),
    );
  }
  const parts = self.split(search);
  const length = self.length + (parts.length - 1) * (replacement.length - search.length);
  if (length > limit) throw new ExpressionLimitError('stringLength', limit);
  rt.budget.step(parts.length);
  return parts.join(replacement);
}

function pad(rt: Runtime, self: string, args: readonly Argument[], name: string): string {
  const length = integerArg(rt, args, 0, name, [0, Number.MAX_SAFE_INTEGER]);
  if (length > rt.budget.limits.maxStringLength)
    throw new ExpressionLimitError('stringLength', rt.budget.limits.maxStringLength);
  const fill = args.length > 1 ? stringArg(rt, args, 1, name) : ' ';
  return name === 'padStart' ? self.padStart(length, fill) : self.padEnd(length, fill);
}

const stringMethods: ReadonlyMap<string, Method<string>> = new Map(
  Object.entries<Method<string>>({
    toUpperCase: (rt, self) => self.toUpperCase(),
    toLowerCase: (rt, self) => self.toLowerCase(),
    trim: (rt, self) => self.trim(),
    trimStart: (rt, self) => self.trimStart(),
    trimEnd: (rt, self) => self.trimEnd(),
    startsWith: (rt, self, args) => self.startsWith(stringArg(rt, args, 0, 'startsWith')),
    endsWith: (rt, self, args) => self.endsWith(stringArg(rt, args, 0, 'endsWith')),
    includes: (rt, self, args) => self.includes(stringArg(rt, args, 0, 'includes')),
    indexOf: (rt, self, args) =>
      self.indexOf(stringArg(rt, args, 0, 'indexOf'), numberArg(rt, args, 1, 0)),
    lastIndexOf: (rt, self, args) => self.lastIndexOf(stringArg(rt, args, 0, 'lastIndexOf')),
    slice: (rt, self, args) =>
      self.slice(numberArg(rt, args, 0, 0), numberArg(rt, args, 1, self.length)),
    substring: (rt, self, args) =>
      self.substring(numberArg(rt, args, 0, 0), numberArg(rt, args, 1, self.length)),
    charAt: (rt, self, args) => self.charAt(numberArg(rt, args, 0, 0)),
    charCodeAt: (rt, self, args) => self.charCodeAt(numberArg(rt, args, 0, 0)),
    at: (rt, self, args) => self.at(numberArg(rt, args, 0, 0)),
    split: (rt, self, args) => {
      const separator = stringArg(rt, args, 0, 'split');
      const max = rt.budget.limits.maxArrayLength;
      const parts = self.split(separator, max + 1);
      rt.budget.step(parts.length);
      return freezeArray(parts, rt.budget);
    },
    replace: (rt, self, args) =>
      replaceLiteral(
        rt,
        self,
        stringArg(rt, args, 0, 'replace'),
        stringArg(rt, args, 1, 'replace'),
        false,
      ),
    replaceAll: (rt, self, args) =>
      replaceLiteral(
        rt,
        self,
        stringArg(rt, args, 0, 'replaceAll'),
        stringArg(rt, args, 1, 'replaceAll'),
        true,
      ),
    padStart: (rt, self, args) => pad(rt, self, args, 'padStart'),
    padEnd: (rt, self, args) => pad(rt, self, args, 'padEnd'),
    repeat: (rt, self, args) => {
      const limit = rt.budget.limits.maxStringLength;
      const count = integerArg(rt, args, 0, 'repeat', [0, Number.MAX_SAFE_INTEGER]);
      if (count * self.length > limit) throw new ExpressionLimitError('stringLength', limit);
      return self.repeat(count);
    },
    concat: (rt, self, args) =>
      rt.budget.checkString(
        self + args.map((_, index) => toStr(valueArg(rt, args, index), rt.budget)).join(''),
      ),
  }),
);

const numberMethods: ReadonlyMap<string, Method<number>> = new Map(
  Object.entries<Method<number>>({
    toFixed: (rt, self, args) => self.toFixed(integerArg(rt, args, 0, 'toFixed', [0, 100], 0)),
    toPrecision: (rt, self, args) =>
      args.length === 0
        ? String(self)
        : self.toPrecision(integerArg(rt, args, 0, 'toPrecision', [1, 100])),
  }),
);

/** Returns the index of the first element whose callback result is `expected` (truthy by default), or -1. */
function findIndex(rt: Runtime, self: readonly Value[], fn: Lambda, expected = true): number {
  for (let index = 0; index < self.length; index++) {
    rt.budget.step();
    if (truthy(rt.invoke(fn, [self[index], index])) === expected) return index;
  }
  return -1;
}

function strictIndexOf(self: readonly Value[], search: Value): number {
  // Same semantics as Array.prototype.includes (SameValueZero), so NaN is found; dates
  // match by instant, as under `===`.
  return self.findIndex(
    (element) => strictEquals(element, search) || (Number.isNaN(element) && Number.isNaN(search)),
  );
}

function compareDefault(rt: Runtime, a: Value, b: Value): number {
  // Array.prototype.sort without a comparator: undefined last, others as strings.
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  const left = toStr(a, rt.budget);
  const right = toStr(b, rt.budget);
  if (left < right) return -1;
  if (left > right) return 1;
  return 0;
}

function flatten(rt: Runtime, self: readonly Value[], depth: number, out: Value[]): void {
  for (const element of self) {
    rt.budget.step();
    if (Array.isArray(element) && depth > 0)
      flatten(rt, element as readonly Value[], depth - 1, out);
    else out.push(element);
    rt.budget.checkArrayLength(out.length);
  }
}

const arrayMethods: ReadonlyMap<string, Method<readonly Value[]>> = new Map(
  Object.entries<Method<readonly Value[]>>({
    // The callbacks get (element, index), as JavaScript's do. Plain loops rather than a
    // shared iterator with a callback keep each call free of closure allocations.
    map: (rt, self, args) => {
      const fn = lambdaArg(rt, args, 0, 'map');
      const out: Value[] = [];
      for (let index = 0; index < self.length; index++) {
        rt.budget.step();
        out.push(rt.invoke(fn, [self[index], index]));
      }
      return freezeArray(out, rt.budget);
    },
    filter: (rt, self, args) => {
      const fn = lambdaArg(rt, args, 0, 'filter');
      const out: Value[] = [];
      for (let index = 0; index < self.length; index++) {
        rt.budget.step();
        if (truthy(rt.invoke(fn, [self[index], index]))) out.push(self[index]);
      }
      return freezeArray(out, rt.budget);
    },
    find: (rt, self, args) => {
      const index = findIndex(rt, self, lambdaArg(rt, args, 0, 'find'));
      return index === -1 ? undefined : self[index];
    },
    findIndex: (rt, self, args) => findIndex(rt, self, lambdaArg(rt, args, 0, 'findIndex')),
    some: (rt, self, args) => findIndex(rt, self, lambdaArg(rt, args, 0, 'some')) !== -1,
    every: (rt, self, args) => findIndex(rt, self, lambdaArg(rt, args, 0, 'every'), false) === -1,
    reduce: (rt, self, args) => {
      const fn = lambdaArg(rt, args, 0, 'reduce');
      let start = 0;
      let accumulator: Value;
      if (args.length > 1) accumulator = valueArg(rt, args, 1);
      else if (self.length === 0) rt.fail('reduce of an empty array needs an initial value');
      else {
        accumulator = self[0];
        start = 1;
      }
      for (let index = start; index < self.length; index++) {
        rt.budget.step();
        accumulator = rt.invoke(fn, [accumulator, self[index], index]);
      }
      return accumulator;
    },
    includes: (rt, self, args) => strictIndexOf(self, valueArg(rt, args, 0)) !== -1,
    indexOf: (rt, self, args) => {
      const search = valueArg(rt, args, 0);
      return self.findIndex((element) => strictEquals(element, search));
    },
    join: (rt, self, args) => {
      const separator = args.length > 0 ? stringArg(rt, args, 0, 'join') : ',';
      rt.budget.step(self.length);
      const parts: string[] = [];
      let length = 0;
      for (const element of self) {
        const part = element === null || element === undefined ? '' : toStr(element, rt.budget);
        length += part.length + separator.length;
        if (length > rt.budget.limits.maxStringLength)
          throw new ExpressionLimitError('stringLength', rt.budget.limits.maxStringLength);
        parts.push(part);
      }
      return parts.join(separator);
    },
    slice: (rt, self, args) =>
      Object.freeze(self.slice(numberArg(rt, args, 0, 0), numberArg(rt, args, 1, self.length))),
    concat: (rt, self, args) => {
      const out: Value[] = [...self];
      for (let index = 0; index < args.length; index++) {
        const arg = valueArg(rt, args, index);
        if (Array.isArray(arg)) out.push(...(arg as readonly Value[]));
        else out.push(arg);
        rt.budget.checkArrayLength(out.length);
      }
      rt.budget.step(out.length);
      return freezeArray(out, rt.budget);
    },
    flat: (rt, self, args) => {
      const out: Value[] = [];
      flatten(rt, self, integerArg(rt, args, 0, 'flat', [0, 16], 1), out);
      return freezeArray(out, rt.budget);
    },
    reverse: (rt, self) => {
      rt.budget.step(self.length);
      return Object.freeze([...self].reverse());
    },
    sort: (rt, self, args) => {
      const fn = args.length > 0 ? lambdaArg(rt, args, 0, 'sort') : undefined;
      const copy = [...self];
      // Array.prototype.sort is stable since ES2019; comparisons are counted as steps.
      copy.sort((a, b) => {
        rt.budget.step();
        if (fn === undefined) return compareDefault(rt, a, b);
        const result = toNumber(rt.invoke(fn, [a, b]));
        return Number.isNaN(result) ? 0 : result;
      });
      return Object.freeze(copy);
    },
    at: (rt, self, args) => self.at(numberArg(rt, args, 0, 0)),
    first: (rt, self) => self[0],
    last: (rt, self) => self[self.length - 1],
    sum: (rt, self) => {
      rt.budget.step(self.length);
      return self.reduce<number>((total, element) => total + toNumber(element), 0);
    },
  }),
);

const dateMethods: ReadonlyMap<string, Method<ExpressionDate>> = new Map(
  Object.entries<Method<ExpressionDate>>({
    plus: (rt, self, args) =>
      dateResult(rt, self.plus(numberArg(rt, args, 0), unitArg(rt, args, 1, 'plus')), 'plus'),
    minus: (rt, self, args) =>
      dateResult(rt, self.plus(-numberArg(rt, args, 0), unitArg(rt, args, 1, 'minus')), 'minus'),
    startOf: (rt, self, args) => self.startOf(unitArg(rt, args, 0, 'startOf')),
    diff: (rt, self, args) => {
      const other = valueArg(rt, args, 0);
      if (!(other instanceof ExpressionDate)) return rt.fail('diff: argument 1 must be a date');
      return self.diff(other, args.length > 1 ? unitArg(rt, args, 1, 'diff') : 'millisecond');
    },
    format: (rt, self, args) =>
      rt.budget.checkString(self.format(stringArg(rt, args, 0, 'format'))),
    toISO: (rt, self) => self.toISO(),
    toMillis: (rt, self) => self.epochMs,
  }),
);

/** Returns the method `name` of `self`'s type, or undefined when that type has none of that name. */
export function findMethod(self: Value, name: string): Method<never> | undefined {
  if (typeof self === 'string') return stringMethods.get(name);
  if (typeof self === 'number') return numberMethods.get(name);
  if (Array.isArray(self)) return arrayMethods.get(name);
  if (self instanceof ExpressionDate) return dateMethods.get(name);
  return undefined;
}

function mathHelper(fn: (...values: number[]) => number): Helper {
  return (rt, args) => fn(...args.map((_, index) => numberArg(rt, args, index)));
}

function objectArg(rt: Runtime, args: readonly Argument[], name: string) {
  const arg = valueArg(rt, args, 0);
  if (!isDataObject(arg)) rt.fail(`${name}: argument 1 must be an object`);
  rt.budget.step(Object.keys(arg).length);
  return arg;
}

/** The global helpers by the name written in expressions. */
export const helpers: ReadonlyMap<string, Helper> = new Map(
  Object.entries<Helper>({
    String: (rt, args) => rt.budget.checkString(toStr(valueArg(rt, args, 0), rt.budget)),
    Number: (rt, args) => toNumber(valueArg(rt, args, 0)),
    Boolean: (rt, args) => truthy(valueArg(rt, args, 0)),
    parseInt: (rt, args) =>
      Number.parseInt(toStr(valueArg(rt, args, 0), rt.budget), numberArg(rt, args, 1, 10)),
    parseFloat: (rt, args) => Number.parseFloat(toStr(valueArg(rt, args, 0), rt.budget)),
    'Number.isInteger': (rt, args) => Number.isInteger(valueArg(rt, args, 0)),
    'Number.isFinite': (rt, args) => Number.isFinite(valueArg(rt, args, 0)),
    'Number.isNaN': (rt, args) => Number.isNaN(valueArg(rt, args, 0)),
    'Math.abs': mathHelper(Math.abs),
    'Math.ceil': mathHelper(Math.ceil),
    'Math.floor': mathHelper(Math.floor),
    'Math.round': mathHelper(Math.round),
    'Math.trunc': mathHelper(Math.trunc),
    'Math.sign': mathHelper(Math.sign),
    'Math.sqrt': mathHelper(Math.sqrt),
    'Math.cbrt': mathHelper(Math.cbrt),
    'Math.pow': mathHelper(Math.pow),
    'Math.exp': mathHelper(Math.exp),
    'Math.log': mathHelper(Math.log),
    'Math.log10': mathHelper(Math.log10),
    'Math.log2': mathHelper(Math.log2),
    'Math.min': (rt, args) => {
      rt.budget.checkArrayLength(args.length);
      return Math.min(...args.map((_, index) => numberArg(rt, args, index)));
    },
    'Math.max': (rt, args) => {
      rt.budget.checkArrayLength(args.length);
      return Math.max(...args.map((_, index) => numberArg(rt, args, index)));
    },
    'JSON.stringify': (rt, args) => {
      const indent = args.length > 2 ? integerArg(rt, args, 2, 'JSON.stringify', [0, 10]) : 0;
      return toJson(valueArg(rt, args, 0), rt.budget, indent);
    },
    'JSON.parse': (rt, args) => {
      const text = stringArg(rt, args, 0, 'JSON.parse');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        rt.fail('JSON.parse: the text is not valid JSON');
      }
      rt.budget.step(text.length >> 4);
      return copyData(parsed, rt.budget.limits.maxArrayLength);
    },
    'Object.keys': (rt, args) =>
      freezeArray(Object.keys(objectArg(rt, args, 'Object.keys')), rt.budget),
    'Object.values': (rt, args) => {
      const object = objectArg(rt, args, 'Object.values');
      return freezeArray(
        Object.keys(object).map((key) => ownValue(object, key)),
        rt.budget,
      );
    },
    'Object.entries': (rt, args) => {
      const object = objectArg(rt, args, 'Object.entries');
      return freezeArray(
        Object.keys(object).map((key) => Object.freeze([key, ownValue(object, key)])),
        rt.budget,
      );
    },
    'Object.fromEntries': (rt, args) => {
      const entries = valueArg(rt, args, 0);
      if (!Array.isArray(entries))
        return rt.fail('Object.fromEntries: argument 1 must be an array');
      const list = entries as readonly Value[];
      rt.budget.step(list.length);
      const pairs = list.map((entry): [string, Value] => {
        if (!Array.isArray(entry))
          rt.fail('Object.fromEntries: each entry must be a [key, value] array');
        const pair = entry as readonly Value[];
        return [rt.checkKey(toStr(pair[0], rt.budget)), pair[1]];
      });
      // Later entries win, as in JavaScript.
      return createObject(new Map(pairs));
    },
    'Array.isArray': (rt, args) => Array.isArray(valueArg(rt, args, 0)),
    'DateTime.fromISO': (rt, args) =>
      ExpressionDate.parse(stringArg(rt, args, 0, 'DateTime.fromISO')) ?? null,
    'DateTime.fromMillis': (rt, args) => ExpressionDate.fromEpoch(numberArg(rt, args, 0)) ?? null,
  }),
);

/** Constants read as `Math.PI`; the compiler replaces them with their value. */
export const constants: ReadonlyMap<string, number> = new Map([
  ['Math.PI', Math.PI],
  ['Math.E', Math.E],
  ['Number.MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
  ['Number.MIN_SAFE_INTEGER', Number.MIN_SAFE_INTEGER],
  ['Number.EPSILON', Number.EPSILON],
]);

/** Names that are only helper namespaces, usable as `Math.max(...)` but never as values. */
export const namespaces: ReadonlySet<string> = new Set([
  'Math',
  'JSON',
  'Object',
  'Array',
  'Number',
  'DateTime',
]);
