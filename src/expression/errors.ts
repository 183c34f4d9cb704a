/**
 * Errors of the expression evaluator. Messages name the construct, property or limit and its
 * position, never the data an expression read, so they can be logged and shown to the
 * expression's author.
 */
import { BulwarkError } from '../core/errors.js';

/** A position in the source, 1-based, as editors count lines and columns. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** The base class of the evaluator's errors. Each subclass has its own code. */
export class ExpressionError extends BulwarkError {}

/** The source is not valid JavaScript expression syntax. */
export class ExpressionSyntaxError extends ExpressionError {
  readonly position: SourcePosition;

  constructor(message: string, position: SourcePosition) {
    super(
      'BWK_ERR_EXPRESSION_SYNTAX',
      `invalid expression syntax at line ${position.line}, column ${position.column}: ${message}`,
    );
    this.position = position;
  }
}

/** The source parses but uses a construct outside the allowed subset. */
export class ExpressionForbiddenError extends ExpressionError {
  /** The rejected construct, e.g. `assignment` or `identifier "process"`. */
  readonly construct: string;
  readonly position: SourcePosition;

  constructor(construct: string, position: SourcePosition) {
    super(
      'BWK_ERR_EXPRESSION_FORBIDDEN',
      `${construct} is not allowed in an expression (line ${position.line}, column ${position.column})`,
    );
    this.construct = construct;
    this.position = position;
  }
}

/**
 * A property name that is never readable, whether written in the source or built at run time:
 * `constructor`, `__proto__`, `prototype` and the other names in BLOCKED_PROPERTIES.
 */
export class ExpressionAccessError extends ExpressionError {
  readonly property: string;

  constructor(property: string, position: SourcePosition) {
    super(
      'BWK_ERR_EXPRESSION_ACCESS',
      `property "${property}" is not accessible (line ${position.line}, column ${position.column})`,
    );
    this.property = property;
  }
}

/** Evaluation failed: an unknown variable or method, or a value of the wrong type. */
export class ExpressionRuntimeError extends ExpressionError {
  readonly position: SourcePosition | undefined;

  constructor(message: string, position?: SourcePosition) {
    super(
      'BWK_ERR_EXPRESSION_RUNTIME',
      position === undefined
        ? message
        : `${message} (line ${position.line}, column ${position.column})`,
    );
    this.position = position;
  }
}

/** The names of the per-evaluation limits, as ExpressionLimitError reports them. */
export type LimitName =
  | 'sourceLength'
  | 'nodes'
  | 'depth'
  | 'steps'
  | 'callDepth'
  | 'stringLength'
  | 'arrayLength'
  | 'outputSize'
  | 'time'
  | 'dataSize';

/** An evaluation went over one of its limits and was stopped. */
export class ExpressionLimitError extends ExpressionError {
  readonly limit: LimitName;
  readonly max: number;

  constructor(limit: LimitName, max: number) {
    super('BWK_ERR_EXPRESSION_LIMIT', `expression exceeded the ${limit} limit of ${max}`);
    this.limit = limit;
    this.max = max;
  }
}
