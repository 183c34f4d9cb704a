/**
 * Per-evaluation limits. Each one bounds a resource an expression's author controls, so that
 * no expression can hang the process, exhaust its memory or overflow its stack.
 */
import { ExpressionLimitError } from './errors.js';

export interface ExpressionLimits {
  /** Maximum characters of an expression or a whole template. */
  readonly maxSourceLength: number;
  /** Maximum AST nodes of one expression. */
  readonly maxNodes: number;
  /** Maximum nesting of AST nodes, which bounds the evaluator's recursion. */
  readonly maxDepth: number;
  /** Maximum evaluation steps: one per node evaluated and one per element a helper visits. */
  readonly maxSteps: number;
  /** Maximum nesting of arrow-function calls made by array helpers. */
  readonly maxCallDepth: number;
  /** Maximum length of any string an expression builds. */
  readonly maxStringLength: number;
  /** Maximum length of any array an expression builds. */
  readonly maxArrayLength: number;
  /** Maximum size of the result, in characters of its JSON form (or of a rendered template). */
  readonly maxOutputSize: number;
  /** Maximum wall time of one evaluation, in milliseconds, checked every 256 steps. */
  readonly timeoutMs: number;
  /**
   * Maximum values (objects, arrays and scalars) copied from the data given to an evaluation,
   * and maximum length of an array of that data that an evaluation reads.
   */
  readonly maxDataValues: number;
}

export const DEFAULT_LIMITS: ExpressionLimits = Object.freeze({
  maxSourceLength: 8_192,
  maxNodes: 2_000,
  maxDepth: 64,
  maxSteps: 100_000,
  maxCallDepth: 8,
  maxStringLength: 100_000,
  maxArrayLength: 10_000,
  maxOutputSize: 1_000_000,
  timeoutMs: 100,
  maxDataValues: 200_000,
});

/** Steps between two reads of the wall clock, because a read on every step would cost more than the step. */
const CLOCK_INTERVAL = 256;

/** The counters of one evaluation. */
export class Budget {
  steps = 0;
  callDepth = 0;
  private readonly deadline: number;
  /** The step count at which the clock is read next. */
  private nextClockRead: number;

  constructor(readonly limits: ExpressionLimits) {
    this.deadline = performance.now() + limits.timeoutMs;
    this.nextClockRead = Math.min(CLOCK_INTERVAL, limits.maxSteps + 1);
  }

  /** Counts one step; small enough for V8 to inline into every compiled node. */
  tick(): void {
    if (++this.steps >= this.nextClockRead) this.checkLimits();
  }

  /** Counts `count` steps and throws when the step or time limit is exceeded. */
  step(count = 1): void {
    this.steps += count;
    if (this.steps >= this.nextClockRead) this.checkLimits();
  }

  private checkLimits(): void {
    if (this.steps > this.limits.maxSteps)
      throw new ExpressionLimitError('steps', this.limits.maxSteps);
    // A helper that counts many steps at once still reads the clock once it crosses the mark.
    this.nextClockRead = Math.min(this.steps + CLOCK_INTERVAL, this.limits.maxSteps + 1);
    if (performance.now() > this.deadline)
      throw new ExpressionLimitError('time', this.limits.timeoutMs);
  }

  checkString(value: string): string {
    if (value.length > this.limits.maxStringLength)
      throw new ExpressionLimitError('stringLength', this.limits.maxStringLength);
    return value;
  }

  /** Checks a length before an array of that length is built. */
  checkArrayLength(length: number): void {
    if (length > this.limits.maxArrayLength)
      throw new ExpressionLimitError('arrayLength', this.limits.maxArrayLength);
  }
}

/** Merges caller limits over the defaults, rejecting values that are not positive numbers. */
export function resolveLimits(overrides: Partial<ExpressionLimits> = {}): ExpressionLimits {
  const merged = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(merged)) {
    if (typeof value !== 'number' || !(value > 0))
      throw new TypeError(`expression limit ${name} must be a positive number`);
  }
  return Object.freeze(merged);
}
