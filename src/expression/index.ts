// The public API of the expression evaluator. This file only re-exports.
export {
  evaluate,
  ExpressionEngine,
  renderTemplate,
  type CompiledExpression,
  type CompiledTemplate,
  type ExpressionData,
  type ExpressionEngineOptions,
} from './engine.js';
export {
  ExpressionAccessError,
  ExpressionError,
  ExpressionForbiddenError,
  ExpressionLimitError,
  ExpressionRuntimeError,
  ExpressionSyntaxError,
  type LimitName,
  type SourcePosition,
} from './errors.js';
export { DEFAULT_LIMITS, type ExpressionLimits } from './limits.js';
export { PreparedData, type ExpressionResult } from './values.js';
export { ExpressionGuard, requestView } from './guard.js';
