/**
 * Compiles the checked ExprNode tree once into a tree of JavaScript closures, so that an
 * evaluation calls one prepared function per node instead of dispatching on node kinds and
 * operators again each time. The closures are built by this file from a fixed set of
 * functions; no source text is ever turned into code (no `eval`, `new Function` or `vm`).
 *
 * Every closure counts one step when it runs, as the tree walker it replaces did, so the step
 * and time limits bound an evaluation the same way.
 */
import { looseEquals, toNumber, toPrimitive, toStr, truthy, typeOf } from './coerce.js';
import { ExpressionDate } from './date.js';
import { ExpressionLimitError } from './errors.js';
import { findMethod, helpers, Lambda, type Argument, type Runtime } from './helpers.js';
import type { ArgumentNode, ExprNode, PropertyNode } from './nodes.js';
import {
  SHORT_CIRCUIT,
  type Closure,
  type Environment,
  type Evaluation,
} from './runtime.js';
import { createObject, isDataObject, ownValue, type DataObject, type Value } from './values.js';

/** Shared by calls without arguments; helpers only read their arguments. */
const NO_ARGUMENTS: Argument[] = Object.freeze([]) as unknown as Argument[];

type Node<K extends ExprNode['kind']> = Extract<ExprNode, { kind: K }>;
type ArgsClosure = (ev: Evaluation, env: Environment | undefined) => Argument[];
type Method = (rt: Runtime, self: Value, args: readonly Argument[]) => Value;

/** Compiles an expression's tree; the closure returns a value the evaluation may keep. */
export function compileClosure(node: ExprNode): (ev: Evaluation) => Value {
  const run = valueClosure(node);
  return (ev) => run(ev, undefined) as Value;
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
  return (ev, env) => {
    const value = run(ev, env);
    return value === SHORT_CIRCUIT ? undefined : value;
  };
}

function compileNode(node: ExprNode): Closure {
  if (isDataChain(node)) {
    const read = compileDataChain(node);
    return (ev, env) => {
      const raw = read(ev, env);
      return raw === SHORT_CIRCUIT ? raw : ev.toValue(raw);
    };
  }
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return (ev) => {
        ev.budget.tick();
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
      return (ev, env) => {
        ev.budget.tick();
        const value = expression(ev, env);
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
      return (ev, env) => {
        ev.budget.tick();
        return truthy(test(ev, env) as Value) ? consequent(ev, env) : alternate(ev, env);
      };
    }
    case 'array': {
      const args = compileArgs(node.elements);
      return (ev, env) => {
        ev.budget.tick();
        return Object.freeze(args(ev, env) as Value[]);
      };
    }
    case 'object':
      return compileObject(node.properties);
    case 'template':
      return compileTemplate(node);
    case 'arrow': {
      // The compiler allows arrows only as call arguments, which compileArgs turns into Lambdas.
      return (ev) => ev.fail('an arrow function can only be passed to a helper');
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
function compileDataChain(node: ExprNode): (ev: Evaluation, env: Environment | undefined) => unknown {
  switch (node.kind) {
    case 'variable': {
      const { name, at } = node;
      return (ev) => {
        ev.budget.tick();
        return ev.variable(name, at);
      };
    }
    case 'chain': {
      const expression = compileDataChain(node.expression);
      return (ev, env) => {
        ev.budget.tick();
        const value = expression(ev, env);
        return value === SHORT_CIRCUIT ? undefined : value;
      };
    }
    case 'member': {
      const object = compileDataChain(node.object);
      const { optional, at } = node;
      if (typeof node.property === 'string') {
        const key = node.property;
        return (ev, env) => {
          ev.budget.tick();
          const value = object(ev, env);
          if (value === SHORT_CIRCUIT) return SHORT_CIRCUIT;
          if (optional && (value === null || value === undefined)) return SHORT_CIRCUIT;
          return ev.hostData
            ? ev.readData(value, key, false, at)
            : ev.readProperty(value as Value, key, false, at);
        };
      }
      const property = compileNode(node.property);
      return (ev, env) => {
        ev.budget.tick();
        const value = object(ev, env);
        if (value === SHORT_CIRCUIT) return SHORT_CIRCUIT;
        if (optional && (value === null || value === undefined)) return SHORT_CIRCUIT;
        const key = ev.key(property(ev, env), at);
        return ev.hostData
          ? ev.readData(value, key, true, at)
          : ev.readProperty(value as Value, key, true, at);
      };
    }
    default:
      throw new Error(`${node.kind} is not a data chain`);
  }
}

function compileParameter(node: Node<'parameter'>): Closure {
  const { up, index } = node;
  if (up === 0)
    return (ev, env) => {
      ev.budget.tick();
      return env!.values[index];
    };
  return (ev, env) => {
    ev.budget.tick();
    let frame = env!;
    for (let level = up; level > 0; level--) frame = frame.parent!;
    return frame.values[index];
  };
}

function compileMember(node: Node<'member'>): Closure {
  const object = compileNode(node.object);
  const { optional, at } = node;
  const property = typeof node.property === 'string' ? node.property : compileNode(node.property);
  return (ev, env) => {
    ev.budget.tick();
    const value = object(ev, env);
    if (value === SHORT_CIRCUIT) return SHORT_CIRCUIT;
    if (optional && (value === null || value === undefined)) return SHORT_CIRCUIT;
    if (typeof property === 'string') return ev.readProperty(value, property, false, at);
    return ev.readProperty(value, ev.key(property(ev, env), at), true, at);
  };
}

function compileMethod(node: Node<'method'>): Closure {
  const object = compileNode(node.object);
  const name = typeof node.name === 'string' ? node.name : compileNode(node.name);
  const args = compileArgs(node.args);
  const { optionalObject, at } = node;
  // A computed name may come from the data, so messages name only names in the source.
  const written = typeof name === 'string';
  return (ev, env) => {
    ev.budget.tick();
    const self = object(ev, env);
    if (self === SHORT_CIRCUIT) return SHORT_CIRCUIT;
    if (optionalObject && (self === null || self === undefined)) return SHORT_CIRCUIT;
    const key = typeof name === 'string' ? name : ev.key(name(ev, env), at);
    ev.at = at;
    if (self === null || self === undefined)
      return ev.fail(`cannot call ${written ? `method ${key}` : 'a computed method'} of ${String(self)}`);
    const method = findMethodOf(self, key);
    if (method === undefined)
      return ev.fail(`${written ? key : 'the computed name'} is not a method of ${describeType(self)}`);
    const values = args(ev, env);
    ev.at = at;
    return method(ev, self, values);
  };
}

function compileHelper(node: Node<'helper'>): Closure {
  const helper = helpers.get(node.name);
  if (helper === undefined) throw new Error(`unknown helper ${node.name}`);
  const args = compileArgs(node.args);
  const at = node.at;
  return (ev, env) => {
    ev.budget.tick();
    const values = args(ev, env);
    ev.at = at;
    return helper(ev, values);
  };
}

function compileUnary(node: Node<'unary'>): Closure {
  const argument = valueClosure(node.argument);
  const operate = unaryOperator(node.operator);
  if (operate === undefined) {
    const { operator, at } = node;
    return (ev) => ev.failAt(at, `unknown operator ${operator}`);
  }
  return (ev, env) => {
    ev.budget.tick();
    return operate(argument(ev, env) as Value);
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

type BinaryOperation = (ev: Evaluation, left: Value, right: Value, at: number) => Value;

function compileBinary(node: Node<'binary'>): Closure {
  const left = valueClosure(node.left);
  const right = valueClosure(node.right);
  const { operator, at } = node;
  const operate = binaryOperations.get(operator);
  if (operate === undefined) return (ev) => ev.failAt(at, `unknown operator ${operator}`);
  return (ev, env) => {
    ev.budget.tick();
    // Both sides are evaluated first, left to right, as in JavaScript.
    const a = left(ev, env) as Value;
    const b = right(ev, env) as Value;
    return operate(ev, a, b, at);
  };
}

function numeric(operate: (a: number, b: number) => number): BinaryOperation {
  return (ev, left, right) =>
    operate(
      typeof left === 'number' ? left : toNumber(left),
      typeof right === 'number' ? right : toNumber(right),
    );
}

function comparison(operate: (a: number | string, b: number | string) => boolean): BinaryOperation {
  return (ev, left, right) => {
    if (typeof left === 'number' && typeof right === 'number') return operate(left, right);
    const a = toPrimitive(left, ev.budget);
    const b = toPrimitive(right, ev.budget);
    if (typeof a === 'string' && typeof b === 'string') return operate(a, b);
    return operate(toNumber(a), toNumber(b));
  };
}

const INDEX = /^(0|[1-9]\d*)$/;

const binaryOperations: ReadonlyMap<string, BinaryOperation> = new Map<string, BinaryOperation>([
  ['===', (ev, left, right) => left === right],
  ['!==', (ev, left, right) => left !== right],
  ['==', (ev, left, right) => looseEquals(left, right, ev.budget)],
  ['!=', (ev, left, right) => !looseEquals(left, right, ev.budget)],
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

function add(ev: Evaluation, left: Value, right: Value): Value {
  if (typeof left === 'number' && typeof right === 'number') return left + right;
  const a = toPrimitive(left, ev.budget, 'string');
  const b = toPrimitive(right, ev.budget, 'string');
  if (typeof a === 'string' || typeof b === 'string') {
    const text = String(a);
    const other = String(b);
    const max = ev.budget.limits.maxStringLength;
    if (text.length + other.length > max) throw new ExpressionLimitError('stringLength', max);
    return text + other;
  }
  return toNumber(a) + toNumber(b);
}

/** `key in object`, over own properties only; the key is checked like any property name. */
function contains(ev: Evaluation, left: Value, right: Value, at: number): boolean {
  ev.at = at;
  const key = ev.checkKey(typeof left === 'string' ? left : toStr(left, ev.budget));
  if (isDataObject(right)) return Object.hasOwn(right, key);
  if (Array.isArray(right))
    return (
      key === 'length' || (INDEX.test(key) && Number(key) < (right as readonly Value[]).length)
    );
  return ev.fail('the right side of "in" must be an object or an array');
}

function compileLogical(node: Node<'logical'>): Closure {
  const left = valueClosure(node.left);
  const right = valueClosure(node.right);
  switch (node.operator) {
    case '&&':
      return (ev, env) => {
        ev.budget.tick();
        const value = left(ev, env) as Value;
        return truthy(value) ? right(ev, env) : value;
      };
    case '||':
      return (ev, env) => {
        ev.budget.tick();
        const value = left(ev, env) as Value;
        return truthy(value) ? value : right(ev, env);
      };
    case '??':
      return (ev, env) => {
        ev.budget.tick();
        const value = left(ev, env);
        return value === null || value === undefined ? right(ev, env) : value;
      };
  }
}

function compileTemplate(node: Node<'template'>): Closure {
  const quasis = node.quasis;
  const expressions = node.expressions.map(valueClosure);
  return (ev, env) => {
    ev.budget.tick();
    let text = quasis[0]!;
    for (let index = 0; index < expressions.length; index++) {
      text += toStr(expressions[index]!(ev, env) as Value, ev.budget) + quasis[index + 1]!;
      ev.budget.checkString(text);
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
    return (ev, env) => {
      ev.budget.checkArrayLength(count);
      const out = new Array<Argument>(count);
      for (let index = 0; index < count; index++) out[index] = closures[index]!(ev, env) as Value;
      return out;
    };
  }
  const parts = nodes.map((arg, index) => {
    const value = arg.value;
    if (value.kind === 'arrow') return { kind: 'arrow' as const, arrow: compileArrow(value) };
    return { kind: arg.spread ? ('spread' as const) : ('value' as const), run: closures[index]!, at: arg.at };
  });
  return (ev, env) => {
    const out: Argument[] = [];
    for (const part of parts) {
      if (part.kind === 'arrow') {
        out.push(new Lambda(part.arrow.parameters, part.arrow.body, env));
      } else if (part.kind === 'spread') {
        const spread = part.run(ev, env);
        if (!Array.isArray(spread)) ev.failAt(part.at, 'only an array can be spread here');
        const elements = spread as readonly Value[];
        ev.budget.step(elements.length);
        ev.budget.checkArrayLength(out.length + elements.length);
        out.push(...elements);
      } else {
        out.push(part.run(ev, env) as Value);
      }
      ev.budget.checkArrayLength(out.length);
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
  return (ev, env) => {
    ev.budget.tick();
    const entries = new Map<string, Value>();
    for (const part of parts) {
      if (part.spread) {
        const spread = part.value(ev, env) as Value;
        if (spread === null || spread === undefined) continue;
        if (!isDataObject(spread))
          return ev.failAt(part.at, 'only an object can be spread into an object');
        const keys = Object.keys(spread);
        for (const key of keys) entries.set(key, ownValue(spread, key));
        ev.budget.step(keys.length);
      } else {
        const key =
          typeof part.key === 'string' ? part.key : ev.key(part.key!(ev, env), part.at);
        entries.set(key, part.value(ev, env) as Value);
      }
      ev.budget.checkArrayLength(entries.size);
    }
    return createObject(entries) as DataObject;
  };
}

function findMethodOf(self: Value, name: string): Method | undefined {
  return findMethod(self, name) as Method | undefined;
}

function describeType(value: Value): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof ExpressionDate) return 'a date';
  if (isDataObject(value)) return 'an object';
  return `a ${typeof value}`;
}
