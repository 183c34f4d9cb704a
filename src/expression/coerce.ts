/**
 * Type conversions of expression values, written out rather than left to the host: host
 * coercion of an object calls its `valueOf`, `toString` or `Symbol.toPrimitive`, which is
 * code the evaluator does not control.
 */
import { ExpressionDate } from './date.js';
import { ExpressionLimitError } from './errors.js';
import type { Budget } from './limits.js';
import { MAX_VALUE_DEPTH, ownValue, type DataObject, type Value } from './values.js';

/** Converts to a string as `String(value)` does for the same data in JavaScript. */
export function toStr(value: Value, budget: Budget, depth = 0): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
  }
  if (value === null) return 'null';
  if (value instanceof ExpressionDate) return value.toISO();
  if (Array.isArray(value)) {
    if (depth > MAX_VALUE_DEPTH) throw new ExpressionLimitError('depth', MAX_VALUE_DEPTH);
    const array = value as readonly Value[];
    budget.step(array.length);
    const parts: string[] = [];
    let length = 0;
    for (const element of array) {
      const part =
        element === null || element === undefined ? '' : toStr(element, budget, depth + 1);
      length += part.length + 1;
      if (length > budget.limits.maxStringLength)
        throw new ExpressionLimitError('stringLength', budget.limits.maxStringLength);
      parts.push(part);
    }
    return parts.join(',');
  }
  return '[object Object]';
}

export function toNumber(value: Value): number {
  switch (typeof value) {
    case 'number':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'undefined':
      return NaN;
    case 'string': {
      const trimmed = value.trim();
      // Number('') is 0 in JavaScript; keep that, and keep Number's hex and binary forms.
      return trimmed === '' ? 0 : Number(trimmed);
    }
  }
  if (value === null) return 0;
  if (value instanceof ExpressionDate) return value.epochMs;
  if (Array.isArray(value)) {
    const array = value as readonly Value[];
    if (array.length === 0) return 0;
    if (array.length === 1) return toNumber(array[0] ?? '');
  }
  return NaN;
}

export function truthy(value: Value): boolean {
  return typeof value === 'object' ? value !== null : Boolean(value);
}

export function typeOf(value: Value): string {
  return value === null ? 'object' : typeof value;
}

/**
 * Converts an object to the primitive that `+`, `==` and comparisons use: arrays and objects
 * become strings, dates become ISO strings for `+` (hint `string`) and milliseconds otherwise,
 * as a host Date does.
 */
export function toPrimitive(
  value: Value,
  budget: Budget,
  hint: 'string' | 'number' = 'number',
): string | number | boolean | null | undefined {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof ExpressionDate) return hint === 'string' ? value.toISO() : value.epochMs;
  return toStr(value, budget);
}

/**
 * `===` over expression values. Dates are values here, not objects with an identity: two
 * dates are equal when they name the same instant, whichever expression made them.
 */
export function strictEquals(left: Value, right: Value): boolean {
  if (left === right) return true;
  return (
    left instanceof ExpressionDate &&
    right instanceof ExpressionDate &&
    left.epochMs === right.epochMs
  );
}

/** `==` as JavaScript defines it, over expression values, with dates compared as in `===`. */
export function looseEquals(left: Value, right: Value, budget: Budget): boolean {
  if (strictEquals(left, right)) return true;
  const leftNullish = left === null || left === undefined;
  const rightNullish = right === null || right === undefined;
  if (leftNullish || rightNullish) return leftNullish && rightNullish;
  const leftObject = typeof left === 'object';
  const rightObject = typeof right === 'object';
  if (leftObject && rightObject) return false;
  const a = toPrimitive(left, budget);
  const b = toPrimitive(right, budget);
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return toNumber(a) === toNumber(b);
}

/**
 * Serialises a value to JSON like JSON.stringify with `indent` spaces, dates as ISO strings.
 * Written out because the host's version calls `toJSON` methods.
 */
export function toJson(value: Value, budget: Budget, indent: number): string | undefined {
  const limit = budget.limits.maxStringLength;
  let length = 0;
  const out: string[] = [];
  const push = (text: string): void => {
    length += text.length;
    if (length > limit) throw new ExpressionLimitError('stringLength', limit);
    out.push(text);
  };
  const newline = (depth: number): void => {
    if (indent > 0) push('\n' + ' '.repeat(indent * depth));
  };
  const write = (item: Value, depth: number): boolean => {
    if (depth > MAX_VALUE_DEPTH) throw new ExpressionLimitError('depth', MAX_VALUE_DEPTH);
    budget.step();
    if (item === undefined) return false;
    if (item === null) push('null');
    else if (typeof item === 'string') push(JSON.stringify(item));
    else if (typeof item === 'number') push(Number.isFinite(item) ? String(item) : 'null');
    else if (typeof item === 'boolean') push(String(item));
    else if (item instanceof ExpressionDate) push(JSON.stringify(item.toISO()));
    else if (Array.isArray(item)) {
      const array = item as readonly Value[];
      push('[');
      array.forEach((element, index) => {
        if (index > 0) push(',');
        newline(depth + 1);
        if (!write(element, depth + 1)) push('null');
      });
      if (array.length > 0) newline(depth);
      push(']');
    } else {
      const object = item as DataObject;
      push('{');
      let first = true;
      for (const key of Object.keys(object)) {
        const element = ownValue(object, key);
        if (element === undefined) continue;
        if (!first) push(',');
        first = false;
        newline(depth + 1);
        push(JSON.stringify(key) + (indent > 0 ? ': ' : ':'));
        write(element, depth + 1);
      }
      if (!first) newline(depth);
      push('}');
    }
    return true;
  };
  return write(value, 0) ? out.join('') : undefined;
}
