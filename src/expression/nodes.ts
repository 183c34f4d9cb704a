/**
 * The checked form of a parsed expression, which closures.ts compiles into closures. The
 * compiler builds it from acorn's AST after checking every node against the allowed subset,
 * so the evaluator never meets a construct outside it. `at` is the node's offset in the source, turned into a
 * line and column only when an error is reported.
 */
import type { Value } from './values.js';

export type ExprNode =
  | { readonly kind: 'literal'; readonly value: Value }
  | { readonly kind: 'variable'; readonly name: string; readonly at: number }
  | { readonly kind: 'parameter'; readonly up: number; readonly index: number }
  | {
      readonly kind: 'member';
      readonly object: ExprNode;
      /** The name when written as `a.b` or `a['b']`, else the expression that computes it. */
      readonly property: string | ExprNode;
      readonly optional: boolean;
      readonly at: number;
    }
  | {
      readonly kind: 'method';
      readonly object: ExprNode;
      readonly name: string | ExprNode;
      readonly args: readonly ArgumentNode[];
      /** `a?.b()`: undefined when `a` is null or undefined. */
      readonly optionalObject: boolean;
      readonly at: number;
    }
  | {
      readonly kind: 'helper';
      /** The helper's name, e.g. `Math.max` or `String`. */
      readonly name: string;
      readonly args: readonly ArgumentNode[];
      readonly at: number;
    }
  | { readonly kind: 'chain'; readonly expression: ExprNode }
  | {
      readonly kind: 'unary';
      readonly operator: string;
      readonly argument: ExprNode;
      readonly at: number;
    }
  | {
      readonly kind: 'binary';
      readonly operator: string;
      readonly left: ExprNode;
      readonly right: ExprNode;
      readonly at: number;
    }
  | {
      readonly kind: 'logical';
      readonly operator: '&&' | '||' | '??';
      readonly left: ExprNode;
      readonly right: ExprNode;
    }
  | {
      readonly kind: 'conditional';
      readonly test: ExprNode;
      readonly consequent: ExprNode;
      readonly alternate: ExprNode;
    }
  | { readonly kind: 'array'; readonly elements: readonly ArgumentNode[]; readonly at: number }
  | { readonly kind: 'object'; readonly properties: readonly PropertyNode[]; readonly at: number }
  | {
      readonly kind: 'template';
      readonly quasis: readonly string[];
      readonly expressions: readonly ExprNode[];
      readonly at: number;
    }
  | { readonly kind: 'arrow'; readonly parameters: number; readonly body: ExprNode };

/** A call argument or array element, possibly spread. */
export interface ArgumentNode {
  readonly spread: boolean;
  readonly value: ExprNode;
  readonly at: number;
}

export type PropertyNode =
  | {
      readonly spread: false;
      readonly key: string | ExprNode;
      readonly value: ExprNode;
      readonly at: number;
    }
  | { readonly spread: true; readonly value: ExprNode; readonly at: number };
