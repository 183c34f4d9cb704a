/**
 * Evaluates a compiled expression by walking its nodes. Every property read goes through
 * `readProperty`, which checks the name at run time against BLOCKED_PROPERTIES. It reads only
 * own data properties of values the evaluator created, so a key built at run time reaches
 * nothing a key in the source could not.
 */
import { looseEquals, toNumber, toPrimitive, toStr, truthy, typeOf } from './coerce.js';
import { BLOCKED_PROPERTIES, positionAt } from './compile.js';
import { ExpressionDate } from './date.js';
import { ExpressionAccessError, ExpressionLimitError, ExpressionRuntimeError } from './errors.js';
import { findMethod, helpers, Lambda, type Argument, type Runtime } from './helpers.js';
import type { Budget } from './limits.js';
import type { ArgumentNode, ExprNode } from './nodes.js';
import { createObject, isDataObject, ownValue, type DataObject, type Value } from './values.js';

/** The arguments of the arrow functions being called, innermost last. */
interface Environment {
  readonly values: readonly Value[];
  readonly parent: Environment | undefined;
}

/** Marks a short-circuited optional chain (`a?.b.c` with `a` nullish) until its end. */
const SHORT_CIRCUIT = Symbol('short-circuit');
type Result = Value | typeof SHORT_CIRCUIT;

const INDEX = /^(0|[1-9]\d*)$/;

export class Interpreter implements Runtime {
  /** Offset of the node being evaluated, for the position of runtime errors. */
  private at = 0;

  /** `$now` of this evaluation, read from the clock on first use. */
  private now: ExpressionDate | undefined;

  constructor(
    readonly budget: Budget,
    private readonly source: string,
    private readonly scope: DataObject,
    private readonly clock: () => number,
  ) {}

  run(node: ExprNode): Value {
    const value = this.eval(node, undefined);
    return value === SHORT_CIRCUIT ? undefined : value;
  }

  fail(message: string): never {
    throw new ExpressionRuntimeError(message, positionAt(this.source, this.at));
  }

  checkKey(key: string): string {
    if (BLOCKED_PROPERTIES.has(key))
      throw new ExpressionAccessError(key, positionAt(this.source, this.at));
    return key;
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
      const result = this.eval(fn.node as ExprNode, env);
      return result === SHORT_CIRCUIT ? undefined : result;
    } finally {
      budget.callDepth--;
    }
  }

  private eval(node: ExprNode, env: Environment | undefined): Result {
    this.budget.step();
    switch (node.kind) {
      case 'literal':
        return node.value;
      case 'variable':
        return this.variable(node.name, node.at);
      case 'parameter': {
        let frame = env!;
        for (let up = node.up; up > 0; up--) frame = frame.parent!;
        return frame.values[node.index];
      }
      case 'member': {
        const object = this.eval(node.object, env);
        if (object === SHORT_CIRCUIT) return SHORT_CIRCUIT;
        if (node.optional && (object === null || object === undefined)) return SHORT_CIRCUIT;
        const computed = typeof node.property !== 'string';
        const key =
          typeof node.property === 'string'
            ? node.property
            : this.key(this.eval(node.property, env), node.at);
        this.at = node.at;
        return this.readProperty(object, key, computed);
      }
      case 'method':
        return this.callMethod(node, env);
      case 'helper': {
        const args = this.args(node.args, env);
        this.at = node.at;
        return helpers.get(node.name)!(this, args);
      }
      case 'chain': {
        const value = this.eval(node.expression, env);
        return value === SHORT_CIRCUIT ? undefined : value;
      }
      case 'unary':
        return this.unary(node.operator, this.value(node.argument, env), node.at);
      case 'binary':
        return this.binary(
          node.operator,
          this.value(node.left, env),
          this.value(node.right, env),
          node.at,
        );
      case 'logical': {
        const left = this.value(node.left, env);
        switch (node.operator) {
          case '&&':
            return truthy(left) ? this.value(node.right, env) : left;
          case '||':
            return truthy(left) ? left : this.value(node.right, env);
          case '??':
            return left === null || left === undefined ? this.value(node.right, env) : left;
        }
        break;
      }
      case 'conditional':
        return truthy(this.value(node.test, env))
          ? this.value(node.consequent, env)
          : this.value(node.alternate, env);
      case 'array': {
        const elements = this.args(node.elements, env) as Value[];
        return Object.freeze(elements);
      }
      case 'object':
        return this.object(node.properties, env);
      case 'template': {
        let text = node.quasis[0]!;
        for (let index = 0; index < node.expressions.length; index++) {
          text +=
            toStr(this.value(node.expressions[index]!, env), this.budget) + node.quasis[index + 1]!;
          this.budget.checkString(text);
        }
        return text;
      }
      case 'arrow':
        // The compiler allows arrows only as call arguments, which `args` turns into Lambdas.
        this.fail('an arrow function can only be passed to a helper');
    }
    throw new Error(`unknown expression node ${(node as ExprNode).kind}`);
  }

  /** Reads a variable of the data; `$now` and `$today` come from the clock unless the data sets them. */
  private variable(name: string, at: number): Value {
    const value = ownValue(this.scope, name);
    if (value !== undefined || name in this.scope) return value;
    if (name === '$now' || name === '$today') {
      this.now ??= ExpressionDate.fromEpoch(this.clock())!;
      return name === '$now' ? this.now : this.now.startOf('day');
    }
    this.at = at;
    return this.fail(`variable ${name} is not defined`);
  }

  private value(node: ExprNode, env: Environment | undefined): Value {
    const value = this.eval(node, env);
    return value === SHORT_CIRCUIT ? undefined : value;
  }

  /** Converts a computed key to a property name, as JavaScript does, then checks it. */
  private key(value: Result, at: number): string {
    this.at = at;
    if (value === SHORT_CIRCUIT) return this.fail('invalid property name');
    const key = typeof value === 'string' ? value : toStr(value, this.budget);
    return this.checkKey(key);
  }

  /**
   * Reads `key` of `object`. A computed key may come from the data, so messages name the key
   * only when the source wrote it.
   */
  private readProperty(object: Value, key: string, computed: boolean): Value {
    if (object === null || object === undefined) {
      const what = computed ? 'a computed property' : `property "${key}"`;
      this.fail(`cannot read ${what} of ${String(object)}`);
    }
    if (typeof object === 'string') {
      if (key === 'length') return object.length;
      if (INDEX.test(key)) return object[Number(key)];
    } else if (Array.isArray(object)) {
      const array = object as readonly Value[];
      if (key === 'length') return array.length;
      if (INDEX.test(key)) return array[Number(key)];
    } else if (object instanceof ExpressionDate) {
      const field = object.field(key);
      if (field !== undefined) return field;
    } else if (isDataObject(object)) {
      return ownValue(object, key);
    }
    if (findMethod(object, key) !== undefined)
      this.fail(`method ${key} can only be called, not read`);
    return undefined;
  }

  private callMethod(
    node: Extract<ExprNode, { kind: 'method' }>,
    env: Environment | undefined,
  ): Result {
    const object = this.eval(node.object, env);
    if (object === SHORT_CIRCUIT) return SHORT_CIRCUIT;
    if (node.optionalObject && (object === null || object === undefined)) return SHORT_CIRCUIT;
    const name =
      typeof node.name === 'string' ? node.name : this.key(this.eval(node.name, env), node.at);
    this.at = node.at;
    // A computed name may come from the data, so messages name only names in the source.
    const computed = typeof node.name !== 'string';
    if (object === null || object === undefined)
      this.fail(
        `cannot call ${computed ? 'a computed method' : `method ${name}`} of ${String(object)}`,
      );
    const method = findMethod(object, name);
    if (method === undefined)
      this.fail(
        `${computed ? 'the computed name' : name} is not a method of ${describeType(object)}`,
      );
    const args = this.args(node.args, env);
    this.at = node.at;
    return (method as (rt: Runtime, self: Value, args: readonly Argument[]) => Value)(
      this,
      object,
      args,
    );
  }

  private args(nodes: readonly ArgumentNode[], env: Environment | undefined): Argument[] {
    const out: Argument[] = [];
    for (const arg of nodes) {
      if (arg.value.kind === 'arrow') {
        out.push(new Lambda(arg.value.parameters, arg.value.body, env));
      } else if (arg.spread) {
        const spread = this.value(arg.value, env);
        this.at = arg.at;
        if (!Array.isArray(spread)) this.fail('only an array can be spread here');
        this.budget.step((spread as readonly Value[]).length);
        out.push(...(spread as readonly Value[]));
      } else {
        out.push(this.value(arg.value, env));
      }
      this.budget.checkArrayLength(out.length);
    }
    return out;
  }

  private object(
    properties: Extract<ExprNode, { kind: 'object' }>['properties'],
    env: Environment | undefined,
  ): DataObject {
    const entries = new Map<string, Value>();
    for (const property of properties) {
      if (property.spread) {
        const spread = this.value(property.value, env);
        this.at = property.at;
        if (spread === null || spread === undefined) continue;
        if (!isDataObject(spread)) this.fail('only an object can be spread into an object');
        for (const key of Object.keys(spread)) entries.set(key, ownValue(spread, key));
        this.budget.step(Object.keys(spread).length);
      } else {
        const key =
          typeof property.key === 'string'
            ? property.key
            : this.key(this.eval(property.key, env), property.at);
        entries.set(key, this.value(property.value, env));
      }
      this.budget.checkArrayLength(entries.size);
    }
    return createObject(entries);
  }

  private unary(operator: string, value: Value, at: number): Value {
    switch (operator) {
      case '-':
        return -toNumber(value);
      case '+':
        return toNumber(value);
      case '!':
        return !truthy(value);
      case '~':
        return ~toNumber(value);
      case 'typeof':
        return typeOf(value);
      case 'void':
        return undefined;
    }
    this.at = at;
    return this.fail(`unknown operator ${operator}`);
  }

  private binary(operator: string, left: Value, right: Value, at: number): Value {
    switch (operator) {
      case '===':
        return left === right;
      case '!==':
        return left !== right;
      case '==':
        return looseEquals(left, right, this.budget);
      case '!=':
        return !looseEquals(left, right, this.budget);
      case '+': {
        const a = toPrimitive(left, this.budget, 'string');
        const b = toPrimitive(right, this.budget, 'string');
        if (typeof a === 'string' || typeof b === 'string') {
          const length = String(a).length + String(b).length;
          if (length > this.budget.limits.maxStringLength)
            throw new ExpressionLimitError('stringLength', this.budget.limits.maxStringLength);
          return String(a) + String(b);
        }
        return toNumber(a) + toNumber(b);
      }
      case '-':
        return toNumber(left) - toNumber(right);
      case '*':
        return toNumber(left) * toNumber(right);
      case '/':
        return toNumber(left) / toNumber(right);
      case '%':
        return toNumber(left) % toNumber(right);
      case '**':
        return toNumber(left) ** toNumber(right);
      case '<':
      case '>':
      case '<=':
      case '>=':
        return this.compare(operator, left, right);
      case '&':
        return toNumber(left) & toNumber(right);
      case '|':
        return toNumber(left) | toNumber(right);
      case '^':
        return toNumber(left) ^ toNumber(right);
      case '<<':
        return toNumber(left) << toNumber(right);
      case '>>':
        return toNumber(left) >> toNumber(right);
      case '>>>':
        return toNumber(left) >>> toNumber(right);
      case 'in': {
        this.at = at;
        const key = this.checkKey(typeof left === 'string' ? left : toStr(left, this.budget));
        if (isDataObject(right)) return Object.hasOwn(right, key);
        if (Array.isArray(right))
          return (
            key === 'length' ||
            (INDEX.test(key) && Number(key) < (right as readonly Value[]).length)
          );
        return this.fail('the right side of "in" must be an object or an array');
      }
    }
    this.at = at;
    return this.fail(`unknown operator ${operator}`);
  }

  private compare(operator: '<' | '>' | '<=' | '>=', left: Value, right: Value): boolean {
    const a = toPrimitive(left, this.budget);
    const b = toPrimitive(right, this.budget);
    if (typeof a === 'string' && typeof b === 'string') {
      switch (operator) {
        case '<':
          return a < b;
        case '>':
          return a > b;
        case '<=':
          return a <= b;
        case '>=':
          return a >= b;
      }
    }
    const x = toNumber(a);
    const y = toNumber(b);
    switch (operator) {
      case '<':
        return x < y;
      case '>':
        return x > y;
      case '<=':
        return x <= y;
      case '>=':
        return x >= y;
    }
  }
}

function describeType(value: Value): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof ExpressionDate) return 'a date';
  if (isDataObject(value)) return 'an object';
  return `a ${typeof value}`;
}
