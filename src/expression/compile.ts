/**
 * Parses expressions with acorn and checks every node against the allowed subset, producing
 * the ExprNode tree that closures.ts compiles. Anything outside the subset is rejected here, with
 * the construct and its position, before anything is evaluated.
 *
 * The allowed nodes are these:
 * - literals, but no regular expressions or BigInts;
 * - `$`-prefixed variables, arrow parameters, `undefined`, `NaN` and `Infinity`;
 * - member access, also computed and optional, and calls of helpers and of methods;
 * - unary operators except `delete`, binary operators except `instanceof`, `&&`, `||`, `??`
 *   and `?:`;
 * - template literals, array literals, and object literals with plain, shorthand, computed or
 *   spread properties;
 * - arrow functions with an expression body and plain parameters, only as call arguments.
 */
import { parseExpressionAt, type Node } from 'acorn';
import type * as ESTree from 'acorn';

import {
  ExpressionAccessError,
  ExpressionForbiddenError,
  ExpressionLimitError,
  ExpressionSyntaxError,
  type SourcePosition,
} from './errors.js';
import { constants, helpers, namespaces } from './helpers.js';
import type { ExpressionLimits } from './limits.js';
import type { ArgumentNode, ExprNode, PropertyNode } from './nodes.js';

/**
 * Property names no expression can read, write or create, whether written in the source or
 * computed at run time. Most are unreachable anyway, because every object an expression reads
 * has a null prototype and helpers are looked up in tables of their own, but the list keeps
 * the classic escape routes closed even if one of those guarantees broke.
 */
export const BLOCKED_PROPERTIES: ReadonlySet<string> = new Set([
  'constructor',
  '__proto__',
  'prototype',
  'caller',
  'callee',
  'arguments',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'valueOf',
  'toString',
  'toLocaleString',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'apply',
  'call',
  'bind',
]);

const VARIABLE = /^\$[A-Za-z0-9_$]*$/;
const UNARY_OPERATORS = new Set(['-', '+', '!', '~', 'typeof', 'void']);

/** Returns the 1-based line and column of `offset` in `source`. */
export function positionAt(source: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let index = 0; index < offset && index < source.length; index++) {
    if (source.charCodeAt(index) === 10) {
      line++;
      lineStart = index + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Parses the expression that starts at `start` in `source`; returns it and where it ends. */
export function parseAt(
  source: string,
  start: number,
  limits: ExpressionLimits,
): { node: ExprNode; end: number } {
  let ast: ESTree.Expression;
  try {
    // preserveParens, so that the end of `(a)` is after its closing parenthesis: without it
    // acorn returns the inner node, which ends before it.
    ast = parseExpressionAt(source, start, {
      ecmaVersion: 'latest',
      sourceType: 'script',
      preserveParens: true,
    });
  } catch (error) {
    // A deeply nested source can overflow acorn's recursive descent before any of our own
    // limits applies, so a stack overflow is reported as the depth limit.
    if (error instanceof RangeError || /stack space/.test(String(error)))
      throw new ExpressionLimitError('depth', limits.maxDepth);
    if (error instanceof SyntaxError) {
      const pos = (error as SyntaxError & { pos?: number }).pos ?? start;
      const message = error.message.replace(/ \(\d+:\d+\)$/, '');
      throw new ExpressionSyntaxError(message, positionAt(source, pos));
    }
    throw error;
  }
  const compiler = new Compiler(source, limits);
  return { node: compiler.expression(ast, [], 0), end: ast.end };
}

/** Parses a whole source as one expression. */
export function compileExpression(source: string, limits: ExpressionLimits): ExprNode {
  if (source.length > limits.maxSourceLength)
    throw new ExpressionLimitError('sourceLength', limits.maxSourceLength);
  const { node, end } = parseAt(source, 0, limits);
  const rest = /\S/.exec(source.slice(end));
  if (rest !== null)
    throw new ExpressionSyntaxError(
      'unexpected text after the expression',
      positionAt(source, end + rest.index),
    );
  return node;
}

type Scope = readonly (readonly string[])[];

class Compiler {
  private nodes = 0;

  constructor(
    private readonly source: string,
    private readonly limits: ExpressionLimits,
  ) {}

  private forbid(construct: string, node: Node): never {
    throw new ExpressionForbiddenError(construct, positionAt(this.source, node.start));
  }

  private checkName(name: string, node: Node): string {
    if (BLOCKED_PROPERTIES.has(name))
      throw new ExpressionAccessError(name, positionAt(this.source, node.start));
    return name;
  }

  private enter(node: Node, depth: number): void {
    if (++this.nodes > this.limits.maxNodes)
      throw new ExpressionLimitError('nodes', this.limits.maxNodes);
    if (depth > this.limits.maxDepth) throw new ExpressionLimitError('depth', this.limits.maxDepth);
    void node;
  }

  expression(
    node: ESTree.Expression | ESTree.Super | ESTree.PrivateIdentifier,
    scope: Scope,
    depth: number,
  ): ExprNode {
    this.enter(node, depth);
    const next = depth + 1;
    switch (node.type) {
      case 'Literal':
        if (node.regex !== undefined) this.forbid('regular expression literal', node);
        if (node.bigint !== undefined) this.forbid('BigInt literal', node);
        return { kind: 'literal', value: node.value as string | number | boolean | null };
      case 'Identifier':
        return this.identifier(node, scope);
      case 'ParenthesizedExpression':
        // Parentheses only group: `(a)` is `a`, and counts no extra depth.
        this.nodes--;
        return this.expression(node.expression, scope, depth);
      case 'TemplateLiteral':
        return {
          kind: 'template',
          quasis: node.quasis.map((quasi) => {
            // A template with an invalid escape has no cooked value (only tagged ones may).
            if (quasi.value.cooked == null) this.forbid('invalid escape in a template', quasi);
            return quasi.value.cooked;
          }),
          expressions: node.expressions.map((item) => this.expression(item, scope, next)),
          at: node.start,
        };
      case 'MemberExpression':
        return this.member(node, scope, next);
      case 'ChainExpression':
        return { kind: 'chain', expression: this.expression(node.expression, scope, next) };
      case 'CallExpression':
        return this.call(node, scope, next);
      case 'UnaryExpression':
        if (node.operator === 'delete') this.forbid('delete operator', node);
        if (!UNARY_OPERATORS.has(node.operator)) this.forbid(`operator ${node.operator}`, node);
        return {
          kind: 'unary',
          operator: node.operator,
          argument: this.expression(node.argument, scope, next),
          at: node.start,
        };
      case 'BinaryExpression':
        if (node.operator === 'instanceof') this.forbid('instanceof operator', node);
        if (node.left.type === 'PrivateIdentifier') this.forbid('private name', node.left);
        return {
          kind: 'binary',
          operator: node.operator,
          left: this.expression(node.left, scope, next),
          right: this.expression(node.right, scope, next),
          at: node.start,
        };
      case 'LogicalExpression':
        return {
          kind: 'logical',
          operator: node.operator,
          left: this.expression(node.left, scope, next),
          right: this.expression(node.right, scope, next),
        };
      case 'ConditionalExpression':
        return {
          kind: 'conditional',
          test: this.expression(node.test, scope, next),
          consequent: this.expression(node.consequent, scope, next),
          alternate: this.expression(node.alternate, scope, next),
        };
      case 'ArrayExpression':
        return {
          kind: 'array',
          elements: node.elements.map((element) =>
            element === null
              ? { spread: false, value: { kind: 'literal', value: undefined }, at: node.start }
              : this.argument(element, scope, next),
          ),
          at: node.start,
        };
      case 'ObjectExpression':
        return {
          kind: 'object',
          properties: node.properties.map((property) => this.property(property, scope, next)),
          at: node.start,
        };
      case 'ArrowFunctionExpression':
        return this.forbid('arrow function outside a helper call', node);
      default:
        return this.forbid(describe(node), node);
    }
  }

  private identifier(node: ESTree.Identifier, scope: Scope): ExprNode {
    const name = node.name;
    for (let up = 0; up < scope.length; up++) {
      const index = scope[scope.length - 1 - up]!.indexOf(name);
      if (index !== -1) return { kind: 'parameter', up, index };
    }
    if (name === 'undefined') return { kind: 'literal', value: undefined };
    if (name === 'NaN') return { kind: 'literal', value: NaN };
    if (name === 'Infinity') return { kind: 'literal', value: Infinity };
    if (VARIABLE.test(name)) return { kind: 'variable', name, at: node.start };
    if (namespaces.has(name) || helpers.has(name))
      this.forbid(`helper ${name} used as a value`, node);
    return this.forbid(`identifier "${name}"`, node);
  }

  /** Returns the name of `a.b` or `a['b']`, or undefined when an expression computes the key. */
  private staticName(node: ESTree.MemberExpression): string | undefined {
    if (!node.computed && node.property.type === 'Identifier')
      return this.checkName(node.property.name, node.property);
    if (node.property.type === 'Literal' && typeof node.property.value === 'string')
      return this.checkName(node.property.value, node.property);
    if (node.property.type === 'PrivateIdentifier') this.forbid('private name', node.property);
    return undefined;
  }

  /** Returns the helper or constant (`Math.max`, `Math.PI`) a member expression names, if any. */
  private helperName(node: ESTree.MemberExpression): string | undefined {
    if (node.object.type !== 'Identifier' || !namespaces.has(node.object.name)) return undefined;
    if (node.computed || node.property.type !== 'Identifier' || node.optional)
      this.forbid(`computed or optional access to helper ${node.object.name}`, node);
    const name = `${node.object.name}.${this.checkName(node.property.name, node.property)}`;
    if (!helpers.has(name) && !constants.has(name)) this.forbid(`unknown helper ${name}`, node);
    return name;
  }

  private member(node: ESTree.MemberExpression, scope: Scope, depth: number): ExprNode {
    if (node.object.type === 'Super') this.forbid('super', node.object);
    const helper = this.helperName(node);
    if (helper !== undefined) {
      const constant = constants.get(helper);
      if (constant === undefined) this.forbid(`helper ${helper} used as a value`, node);
      return { kind: 'literal', value: constant };
    }
    const name = this.staticName(node);
    return {
      kind: 'member',
      object: this.expression(node.object, scope, depth),
      property: name ?? this.expression(node.property, scope, depth),
      optional: node.optional,
      at: node.property.start,
    };
  }

  private call(node: ESTree.CallExpression, scope: Scope, depth: number): ExprNode {
    const callee = node.callee;
    if (callee.type === 'Super') this.forbid('super', callee);
    if (node.optional) this.forbid('optional call', node);
    const args = node.arguments.map((arg) => this.argument(arg, scope, depth, true));
    if (callee.type === 'Identifier') {
      if (!helpers.has(callee.name)) {
        if (VARIABLE.test(callee.name) || scope.some((names) => names.includes(callee.name)))
          this.forbid('call of a variable', callee);
        this.forbid(`function "${callee.name}"`, callee);
      }
      return { kind: 'helper', name: callee.name, args, at: node.start };
    }
    if (callee.type !== 'MemberExpression') {
      // Compile the callee first, so that `a.constructor(...)(...)` reports the blocked
      // property rather than the call of a call's result.
      this.expression(callee, scope, depth);
      return this.forbid(`call of ${describe(callee)}`, callee);
    }

    const helper = this.helperName(callee);
    if (helper !== undefined) {
      if (!helpers.has(helper)) this.forbid(`call of constant ${helper}`, callee);
      return { kind: 'helper', name: helper, args, at: node.start };
    }
    this.enter(callee, depth);
    const name = this.staticName(callee);
    return {
      kind: 'method',
      object: this.expression(callee.object as ESTree.Expression, scope, depth + 1),
      name: name ?? this.expression(callee.property, scope, depth + 1),
      args,
      optionalObject: callee.optional,
      at: callee.property.start,
    };
  }

  private argument(
    node: ESTree.Expression | ESTree.SpreadElement,
    scope: Scope,
    depth: number,
    callArgument = false,
  ): ArgumentNode {
    if (node.type === 'SpreadElement')
      return { spread: true, value: this.expression(node.argument, scope, depth), at: node.start };
    let inner: ESTree.Expression = node;
    while (inner.type === 'ParenthesizedExpression') inner = inner.expression;
    if (inner.type === 'ArrowFunctionExpression' && callArgument)
      return { spread: false, value: this.arrow(inner, scope, depth), at: node.start };
    return { spread: false, value: this.expression(node, scope, depth), at: node.start };
  }

  private arrow(node: ESTree.ArrowFunctionExpression, scope: Scope, depth: number): ExprNode {
    this.enter(node, depth);
    if (node.async) this.forbid('async arrow function', node);
    if (node.generator) this.forbid('generator function', node);
    if (!node.expression || node.body.type === 'BlockStatement')
      this.forbid('arrow function with a block body', node.body);
    const names = node.params.map((param) => {
      if (param.type === 'Identifier') return this.checkName(param.name, param);
      if (param.type === 'ObjectPattern' || param.type === 'ArrayPattern')
        this.forbid('destructuring pattern', param);
      if (param.type === 'AssignmentPattern') this.forbid('default parameter', param);
      if (param.type === 'RestElement') this.forbid('rest parameter', param);
      return this.forbid(describe(param), param);
    });
    return {
      kind: 'arrow',
      parameters: names.length,
      body: this.expression(node.body, [...scope, names], depth + 1),
    };
  }

  private property(
    node: ESTree.Property | ESTree.SpreadElement,
    scope: Scope,
    depth: number,
  ): PropertyNode {
    this.enter(node, depth);
    if (node.type === 'SpreadElement')
      return {
        spread: true,
        value: this.expression(node.argument, scope, depth + 1),
        at: node.start,
      };
    if (node.kind === 'get') this.forbid('getter', node);
    if (node.kind === 'set') this.forbid('setter', node);
    if (node.method) this.forbid('method definition', node);
    let key: string | ExprNode;
    if (node.computed) key = this.expression(node.key, scope, depth + 1);
    else if (node.key.type === 'Identifier') key = this.checkName(node.key.name, node.key);
    else if (node.key.type === 'Literal' && node.key.bigint === undefined)
      key = this.checkName(String(node.key.value), node.key);
    else return this.forbid(describe(node.key), node.key);
    return {
      spread: false,
      key,
      value: this.expression(node.value, scope, depth + 1),
      at: node.start,
    };
  }
}

const CONSTRUCTS: Record<string, string> = {
  AssignmentExpression: 'assignment',
  UpdateExpression: 'increment or decrement',
  FunctionExpression: 'function expression',
  ClassExpression: 'class expression',
  NewExpression: 'new operator',
  ThisExpression: 'this',
  Super: 'super',
  ImportExpression: 'import()',
  MetaProperty: 'meta property (import.meta, new.target)',
  YieldExpression: 'yield',
  AwaitExpression: 'await',
  SequenceExpression: 'comma operator',
  TaggedTemplateExpression: 'tagged template',
  ArrowFunctionExpression: 'arrow function',
  ObjectPattern: 'destructuring pattern',
  ArrayPattern: 'destructuring pattern',
  PrivateIdentifier: 'private name',
  CallExpression: 'a call result',
  ConditionalExpression: 'a conditional result',
  LogicalExpression: 'a logical result',
};

function describe(node: Node): string {
  return CONSTRUCTS[node.type] ?? `syntax ${node.type}`;
}
