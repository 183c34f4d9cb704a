/**
 * Compiles the checked ExprNode tree once into a tree of JavaScript closures, so that an
 * evaluation calls one prepared function per node instead of dispatching on node kinds and
 * operators again each time. This file builds the closures from a fixed set of functions,
 * and no source text is ever turned into code (no `eval`, `new Function` or `vm`).
 *
 * The closure of every node counts one step when it runs, so `maxSteps` bounds the nodes
 * evaluated, and the time limit is checked as steps accumulate.
 */
import {
  looseEquals,
  strictEquals,
  toNumber,
  toPrimitive,
  toStr,
  truthy,
  typeOf,
} from './coerce.js';
import { ExpressionDate } from './date.js';
import { ExpressionLimitError } from './errors.js';
import { findMethod, helpers, Lambda, type Argument, type Runtime } from './helpers.js';
import type { ArgumentNode, ExprNode, PropertyNode } from './nodes.js';
import { SHORT_CIRCUIT, type Closure, type Environment, type Evaluation } from './runtime.js';
import { createObject, isDataObject, ownValue, type DataObject, type Value } from './values.js';

/** Shared by calls without arguments; helpers only read their arguments. */
const NO_ARGUMENTS: Argument[] = Object.freeze([]) as unknown as Argument[];

type Node<K extends ExprNode['kind']> = Extract<ExprNode, { kind: K }>;
type ArgsClosure = (evaluation: Evaluation, env: Environment | undefined) => Argument[];
type Method = (rt: Runtime, self: Value, args: readonly Argument[]) => Value;

/** Compiles an expression's tree; the closure returns a value the evaluation may keep. */
export function compileClosure(node: ExprNode): (evaluation: Evaluation) => Value {
  const run = valueClosure(node);
  return (evaluation) => run(evaluation, undefined) as Value;
}

/**
 * Tells whether `node` reads the variables: a variable, or a property chain that starts at
 * one. Such chains read the caller's data in place, see `Evaluation.readData`.
 */
function isDataChain(node: ExprNode): boolean {
  switch (node.kind) {
    case 'variable':
      return true;
    case 'member':
      return isDataChain(node.object);
    case 'chain':
      return isDataChain(node.expression);
    default:
      return false;
  }
}

/** Compiles a node whose result is used as a value, so a short-circuit becomes undefined. */
function valueClosure(node: ExprNode): Closure {
  const run = compileNode(node);
  if (node.kind !== 'member' && node.kind !== 'method') return run;
  return (evaluation, env) => {
    const value = run(evaluation, env);
    return value === SHORT_CIRCUIT ? undefined : value;
  };
}

function compileNode(node: ExprNode): Closure {
  if (isDataChain(node)) {
    const read = compileDataChain(node);
    return (evaluation, env) => {
      const raw = read(evaluation, env);
      return raw === SHORT_CIRCUIT ? raw : evaluation.toValue(raw);
    };
  }
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return (evaluation) => {
        evaluation.budget.tick();
        return value;
      };
    }
    case 'parameter':
      return compileParameter(node);
    case 'member':
      return compileMember(node);
    case 'method':
      return compileMethod(node);
    case 'helper':
      return compileHelper(node);
    case 'chain': {
      const expression = compileNode(node.expression);
      return (evaluation, env) => {
        evaluation.budget.tick();
        const value = expression(evaluation, env);
        return value === SHORT_CIRCUIT ? undefined : value;
      };
    }
    case 'unary':
      return compileUnary(node);
    case 'binary':
      return compileBinary(node);
    case 'logical':
      return compileLogical(node);
    case 'conditional': {
      const test = valueClosure(node.test);
      const consequent = valueClosure(node.consequent);
      const alternate = valueClosure(node.alternate);
      return (evaluation, env) => {
        evaluation.budget.tick();
        return truthy(test(evaluation, env) as Value)
          ? consequent(evaluation, env)
          : alternate(evaluation, env);
      };
    }
    case 'array': {
      const args = compileArgs(node.elements);
      return (evaluation, env) => {
        evaluation.budget.tick();
        return Object.freeze(args(evaluation, env) as Value[]);
      };
    }
    case 'object':
      return compileObject(node.properties);
    case 'template':
      return compileTemplate(node);
    case 'arrow': {
      // The compiler allows arrows only as call arguments, which compileArgs turns into Lambdas.
      return (evaluation) => evaluation.fail('an arrow function can only be passed to a helper');
    }
    case 'variable':
      // Handled above as a data chain.
      break;
  }
  throw new Error(`unknown expression node ${node.kind}`);
}

/**
 * Compiles a data chain. Its closures return what `Evaluation.variable` and `readData`
 * return, which may be a caller's object that only `readData` and `toValue` accept.
 */
function compileDataChain(
  node: ExprNode,
): (evaluation: Evaluation, env: Environment | undefined) => unknown {
  switch (node.kind) {
    case 'variable': {
      const { name, at } = node;
      return (evaluation) => {
        evaluation.budget.tick();
        return evaluation.variable(name, at);
      };
    }
    case 'chain': {
      const expression = compileDataChain(node.expression);
      return (evaluation, env) => {
        evaluation.budget.tick();
        const value = expression(evaluation, env);
        return value === SHORT_CIRCUIT ? undefined : value;
      };
    }
    case 'member': {
      const object = compileDataChain(node.object);
      const { optional, at } = node;
      if (typeof node.property === 'string') {
        const key = node.property;
        return (evaluation, env) => {
          evaluation.budget.tick();
          const value = object(evaluation, env);
          if (value === SHORT_CIRCUIT) return SHORT_CIRCUIT;
          if (optional && (value === null || value === undefined)) return SHORT_CIRCUIT;
          return evaluation.hostData
            ? evaluation.readData(value, key, false, at)
            : evaluation.readProperty(value as Value, key, false, at);
        };
      }
      const property = compileNode(node.property);
      return (evaluation, env) => {
        evaluation.budget.tick();
        const value = object(evaluation, env);
        if (value === SHORT_CIRCUIT) return SHORT_CIRCUIT;
        if (optional && (value === null || value === undefined)) return SHORT_CIRCUIT;
        const key = evaluation.key(property(evaluation, env), at);
        return evaluation.hostData
          ? evaluation.readData(value, key, true, at)
          : evaluation.readProperty(value as Value, key, true, at);
      };
    }
    default:
      throw new Error(`${node.kind} is not a data chain`);
  }
}

function compileParameter(node: Node<'parameter'>): Closure {
  const { up, index } = node;
  if (up === 0)
    return (evaluation, env) => {
      evaluation.budget.tick();
      return env!.values[index];
    };
  return (evaluation, env) => {
    evaluation.budget.tick();
    let frame = env!;
    for (let level = up; level > 0; level--) frame = frame.parent!;
    return frame.values[index];
  };
}

function compileMember(node: Node<'member'>): Closure {
  const object = compileNode(node.object);
  const { optional, at } = node;
  const property = typeof node.property === 'string' ? node.property : compileNode(node.property);
  return (evaluation, env) => {
    evaluation.budget.tick();
    const value = object(evaluation, env);
    if (value === SHORT_CIRCUIT) return SHORT_CIRCUIT;
    if (optional && (value === null || value === undefined)) return SHORT_CIRCUIT;
    if (typeof property === 'string') return evaluation.readProperty(value, property, false, at);
    return evaluation.readProperty(value, evaluation.key(property(evaluation, env), at), true, at);
  };
}

function compileMethod(node: Node<'method'>): Closure {
  const object = compileNode(node.object);
  const name = typeof node.name === 'string' ? node.name : compileNode(node.name);
  const args = compileArgs(node.args);
  const { optionalObject, at } = node;
  // A computed name may come from the data, so messages name only names in the source.
  const written = typeof name === 'string';
  return (evaluation, env) => {
    evaluation.budget.tick();
    const self = object(evaluation, env);
    if (self === SHORT_CIRCUIT) return SHORT_CIRCUIT;
    if (optionalObject && (self === null || self === undefined)) return SHORT_CIRCUIT;
    const key = typeof name === 'string' ? name : evaluation.key(name(evaluation, env), at);
    evaluation.at = at;
    if (self === null || self === undefined)
      return evaluation.fail(
        `cannot call ${written ? `method ${key}` : 'a computed method'} of ${String(self)}`,
      );
    const method = findMethodOf(self, key);
    if (method === undefined) {
      // A property called as a method gets a message that shows how to read it.
      if (written && isPropertyOf(self, key))
        return evaluation.fail(`\`${key}\` is a property: write \`.${key}\``);
      return evaluation.fail(
        `${written ? key : 'the computed name'} is not a method of ${describeType(self)}`,
      );
    }
    const values = args(evaluation, env);
    evaluation.at = at;
    return method(evaluation, self, values);
  };
}

function compileHelper(node: Node<'helper'>): Closure {
  const helper = helpers.get(node.name);
  if (helper === undefined) throw new Error(`unknown helper ${node.name}`);
  const args = compileArgs(node.args);
  const at = node.at;
  return (evaluation, env) => {
    evaluation.budget.tick();
    const values = args(evaluation, env);
    evaluation.at = at;
    return helper(evaluation, values);
  };
}

function compileUnary(node: Node<'unary'>): Closure {
  const argument = valueClosure(node.argument);
  const operate = unaryOperator(node.operator);
  if (operate === undefined) {
    const { operator, at } = node;
    return (evaluation) => evaluation.failAt(at, `unknown operator ${operator}`);
  }
  return (evaluation, env) => {
    evaluation.budget.tick();
    return operate(argument(evaluation, env) as Value);
  };
}

function unaryOperator(operator: string): ((value: Value) => Value) | undefined {
  switch (operator) {
    case '-':
      return (value) => -toNumber(value);
    case '+':
      return (value) => toNumber(value);
    case '!':
      return (value) => !truthy(value);
    case '~':
      return (value) => ~toNumber(value);
    case 'typeof':
      return (value) => typeOf(value);
    case 'void':
      return () => undefined;
  }
  return undefined;
}

type BinaryOperation = (evaluation: Evaluation, left: Value, right: Value, at: number) => Value;

function compileBinary(node: Node<'binary'>): Closure {
  const left = valueClosure(node.left);
  const right = valueClosure(node.right);
  const { operator, at } = node;
  const operate = binaryOperations.get(operator);
  if (operate === undefined)
    return (evaluation) => evaluation.failAt(at, `unknown operator ${operator}`);
  return (evaluation, env) => {
    evaluation.budget.tick();
    // Both sides are evaluated first, left to right, as in JavaScript.
    const a = left(evaluation, env) as Value;
    const b = right(evaluation, env) as Value;
    return operate(evaluation, a, b, at);
  };
}

function numeric(operate: (a: number, b: number) => number): BinaryOperation {
  return (evaluation, left, right) =>
    operate(
      typeof left === 'number' ? left : toNumber(left),
      typeof right === 'number' ? right : toNumber(right),
    );
}

function comparison(operate: (a: number | string, b: number | string) => boolean): BinaryOperation {
  return (evaluation, left, right) => {
    if (typeof left === 'number' && typeof right === 'number') return operate(left, right);
    const a = toPrimitive(left, evaluation.budget);
    const b = toPrimitive(right, evaluation.budget);
    if (typeof a === 'string' && typeof b === 'string') return operate(a, b);
    return operate(toNumber(a), toNumber(b));
  };
}

const INDEX = /^(0|[1-9]\d*)$/;

const binaryOperations: ReadonlyMap<string, BinaryOperation> = new Map<string, BinaryOperation>([
  ['===', (evaluation, left, right) => strictEquals(left, right)],
  ['!==', (evaluation, left, right) => !strictEquals(left, right)],
  ['==', (evaluation, left, right) => looseEquals(left, right, evaluation.budget)],
  ['!=', (evaluation, left, right) => !looseEquals(left, right, evaluation.budget)],
  ['+', add],
  ['-', numeric((a, b) => a - b)],
  ['*', numeric((a, b) => a * b)],
  ['/', numeric((a, b) => a / b)],
  ['%', numeric((a, b) => a % b)],
  ['**', numeric((a, b) => a ** b)],
  ['&', numeric((a, b) => a & b)],
  ['|', numeric((a, b) => a | b)],
  ['^', numeric((a, b) => a ^ b)],
  ['<<', numeric((a, b) => a << b)],
  ['>>', numeric((a, b) => a >> b)],
  ['>>>', numeric((a, b) => a >>> b)],
  ['<', comparison((a, b) => a < b)],
  ['>', comparison((a, b) => a > b)],
  ['<=', comparison((a, b) => a <= b)],
  ['>=', comparison((a, b) => a >= b)],
  ['in', contains],
]);

function add(evaluation: Evaluation, left: Value, right: Value): Value {
  if (typeof left === 'number' && typeof right === 'number') return left + right;
  const a = toPrimitive(left, evaluation.budget, 'string');
  const b = toPrimitive(right, evaluation.budget, 'string');
  if (typeof a === 'string' || typeof b === 'string') {
    const text = String(a);
    const other = String(b);
    const max = evaluation.budget.limits.maxStringLength;
    if (text.length + other.length > max) throw new ExpressionLimitError('stringLength', max);
    return text + other;
  }
  return toNumber(a) + toNumber(b);
}

/** `key in object`, over own properties only; the key is checked like any property name. */
function contains(evaluation: Evaluation, left: Value, right: Value, at: number): boolean {
  evaluation.at = at;
  const key = evaluation.checkKey(typeof left === 'string' ? left : toStr(left, evaluation.budget));
  if (isDataObject(right)) return Object.hasOwn(right, key);
  if (Array.isArray(right))
    return (
      key === 'length' || (INDEX.test(key) && Number(key) < (right as readonly Value[]).length)
    );
  return evaluation.fail('the right side of "in" must be an object or an array');
}

function compileLogical(node: Node<'logical'>): Closure {
  const left = valueClosure(node.left);
  const right = valueClosure(node.right);
  switch (node.operator) {
    case '&&':
      return (evaluation, env) => {
        evaluation.budget.tick();
        const value = left(evaluation, env) as Value;
        return truthy(value) ? right(evaluation, env) : value;
      };
    case '||':
      return (evaluation, env) => {
        evaluation.budget.tick();
        const value = left(evaluation, env) as Value;
        return truthy(value) ? value : right(evaluation, env);
      };
    case '??':
      return (evaluation, env) => {
        evaluation.budget.tick();
        const value = left(evaluation, env);
        return value === null || value === undefined ? right(evaluation, env) : value;
      };
  }
}

function compileTemplate(node: Node<'template'>): Closure {
  const quasis = node.quasis;
  const expressions = node.expressions.map(valueClosure);
  return (evaluation, env) => {
    evaluation.budget.tick();
    let text = quasis[0]!;
    for (let index = 0; index < expressions.length; index++) {
      text +=
        toStr(expressions[index]!(evaluation, env) as Value, evaluation.budget) +
        quasis[index + 1]!;
      evaluation.budget.checkString(text);
    }
    return text;
  };
}

/**
 * Compiles call arguments or array elements. Arrow functions become Lambdas over the current
 * environment; their bodies are compiled here, once.
 */
function compileArgs(nodes: readonly ArgumentNode[]): ArgsClosure {
  const simple = nodes.every((arg) => !arg.spread && arg.value.kind !== 'arrow');
  const closures = nodes.map((arg) => valueClosure(arg.value));
  if (closures.length === 0) return () => NO_ARGUMENTS;
  if (simple) {
    const count = closures.length;
    return (evaluation, env) => {
      evaluation.budget.checkArrayLength(count);
      const out = new Array<Argument>(count);
      for (let index = 0; index < count; index++)
        out[index] = closures[index]!(evaluation, env) as Value;
      return out;
    };
  }
  const parts = nodes.map((arg, index) => {
    const value = arg.value;
    if (value.kind === 'arrow') return { kind: 'arrow' as const, arrow: compileArrow(value) };
    return {
      kind: arg.spread ? ('spread' as const) : ('value' as const),
      run: closures[index]!,
      at: arg.at,
    };
  });
  return (evaluation, env) => {
    const out: Argument[] = [];
    for (const part of parts) {
      if (part.kind === 'arrow') {
        out.push(new Lambda(part.arrow.parameters, part.arrow.body, env));
      } else if (part.kind === 'spread') {
        const spread = part.run(evaluation, env);
        if (!Array.isArray(spread)) evaluation.failAt(part.at, 'only an array can be spread here');
        const elements = spread as readonly Value[];
        evaluation.budget.step(elements.length);
        evaluation.budget.checkArrayLength(out.length + elements.length);
        out.push(...elements);
      } else {
        out.push(part.run(evaluation, env) as Value);
      }
      evaluation.budget.checkArrayLength(out.length);
    }
    return out;
  };
}

function compileArrow(node: Node<'arrow'>): { parameters: number; body: Closure } {
  return { parameters: node.parameters, body: valueClosure(node.body) };
}

function compileObject(properties: readonly PropertyNode[]): Closure {
  const parts = properties.map((property) => ({
    spread: property.spread,
    at: property.at,
    value: valueClosure(property.value),
    key: property.spread
      ? undefined
      : typeof property.key === 'string'
        ? property.key
        : compileNode(property.key),
  }));
  return (evaluation, env) => {
    evaluation.budget.tick();
    const entries = new Map<string, Value>();
    for (const part of parts) {
      if (part.spread) {
        const spread = part.value(evaluation, env) as Value;
        if (spread === null || spread === undefined) continue;
        if (!isDataObject(spread))
          return evaluation.failAt(part.at, 'only an object can be spread into an object');
        const keys = Object.keys(spread);
        for (const key of keys) entries.set(key, ownValue(spread, key));
        evaluation.budget.step(keys.length);
      } else {
        const key =
          typeof part.key === 'string'
            ? part.key
            : evaluation.key(part.key!(evaluation, env), part.at);
        entries.set(key, part.value(evaluation, env) as Value);
      }
      evaluation.budget.checkArrayLength(entries.size);
    }
    return createObject(entries) as DataObject;
  };
}

function findMethodOf(self: Value, name: string): Method | undefined {
  return findMethod(self, name) as Method | undefined;
}

/** Tells whether `name` is a property the evaluator reads off `self`: a date field or `length`. */
function isPropertyOf(self: Value, name: string): boolean {
  if (self instanceof ExpressionDate) return self.field(name) !== undefined;
  return name === 'length' && (typeof self === 'string' || Array.isArray(self));
}

function describeType(value: Value): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof ExpressionDate) return 'a date';
  if (isDataObject(value)) return 'an object';
  return `a ${typeof value}`;
}
