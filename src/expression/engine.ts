/**
 * The public entry points: compile and evaluate expressions, and render templates with
 * several `{{ }}` parts. Compiled expressions and templates, each a tree of closures, are
 * kept in a bounded LRU cache keyed by their source.
 */
import { toStr } from './coerce.js';
import { types } from 'node:util';

import { compileClosure } from './closures.js';
import { compileExpression, parseAt, positionAt } from './compile.js';
import { ExpressionDate } from './date.js';
import { ExpressionLimitError, ExpressionSyntaxError } from './errors.js';
import { classifyHost } from './host.js';
import { Budget, resolveLimits, type ExpressionLimits } from './limits.js';
import { Evaluation } from './runtime.js';
import {
  PreparedData,
  prepareData,
  toResult,
  type ExpressionResult,
  type Value,
} from './values.js';

export interface ExpressionEngineOptions {
  limits?: Partial<ExpressionLimits>;
  /** Maximum compiled sources kept; 0 turns the cache off. Default 1,000. */
  cacheSize?: number;
  /** The clock behind `$now` and `$today`, in epoch milliseconds. Default Date.now. */
  now?: () => number;
}

/** An expression checked and ready to evaluate. */
export interface CompiledExpression {
  readonly source: string;
  /** @internal */
  readonly run: (evaluation: Evaluation) => Value;
}

/** A template split into text and compiled `{{ }}` parts. */
export interface CompiledTemplate {
  readonly source: string;
  /** Text parts; `texts[i]` precedes `parts[i]`, and the last one follows every part. */
  readonly texts: readonly string[];
  /** @internal */
  readonly parts: ReadonlyArray<(evaluation: Evaluation) => Value>;
}

/** Data for an evaluation: variables by name (`{ $json: body }`), or data prepared once. */
export type ExpressionData = Record<string, unknown> | PreparedData;

/**
 * A least-recently-used map: a Map keeps insertion order, so the first key is the oldest. A
 * hit moves its key to the end only once the map is over half full, because moving costs
 * more than the lookup and order matters only when eviction is near. Below that the order
 * is insertion order, so eviction is approximately LRU.
 */
class LruCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly size: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined && this.entries.size * 2 > this.size) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.size === 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!);
  }

  get count(): number {
    return this.entries.size;
  }
}

export class ExpressionEngine {
  readonly limits: ExpressionLimits;
  private readonly expressions: LruCache<CompiledExpression>;
  private readonly templates: LruCache<CompiledTemplate>;
  private readonly now: () => number;

  constructor(options: ExpressionEngineOptions = {}) {
    this.limits = resolveLimits(options.limits);
    const cacheSize = options.cacheSize ?? 1_000;
    if (!Number.isInteger(cacheSize) || cacheSize < 0)
      throw new TypeError('cacheSize must be an integer of 0 or more');
    this.expressions = new LruCache(cacheSize);
    this.templates = new LruCache(cacheSize);
    this.now = options.now ?? Date.now;
  }

  /** Parses and checks an expression, or returns it from the cache. */
  compile(source: string): CompiledExpression {
    const cached = this.expressions.get(source);
    if (cached !== undefined) return cached;
    const run = compileClosure(compileExpression(source, this.limits));
    const compiled = Object.freeze({ source, run });
    this.expressions.set(source, compiled);
    return compiled;
  }

  /**
   * Splits a template into text and `{{ expression }}` parts and compiles each part. The
   * parser finds where each expression ends, so `}}` inside a string or an object literal
   * does not end it early.
   */
  compileTemplate(source: string): CompiledTemplate {
    const cached = this.templates.get(source);
    if (cached !== undefined) return cached;
    if (source.length > this.limits.maxSourceLength)
      throw new ExpressionLimitError('sourceLength', this.limits.maxSourceLength);

    const texts: string[] = [];
    const parts: Array<(evaluation: Evaluation) => Value> = [];
    let position = 0;
    for (;;) {
      const open = source.indexOf('{{', position);
      if (open === -1) break;
      texts.push(source.slice(position, open));
      const { node, end } = parseAt(source, open + 2, this.limits);
      const close = /^\s*\}\}/.exec(source.slice(end, end + this.limits.maxSourceLength));
      if (close === null)
        throw new ExpressionSyntaxError(
          'expected }} after the expression',
          positionAt(source, end),
        );
      parts.push(compileClosure(node));
      position = end + close[0].length;
    }
    texts.push(source.slice(position));
    const compiled = Object.freeze({
      source,
      texts: Object.freeze(texts),
      parts: Object.freeze(parts),
    });
    this.templates.set(source, compiled);
    return compiled;
  }

  /**
   * Copies data once for many evaluations. Evaluations read unprepared data in place and copy
   * only what they keep, so preparing pays off when the expressions keep much of the data.
   */
  prepare(data: Record<string, unknown>): PreparedData {
    return prepareData(data, this.limits.maxDataValues);
  }

  /**
   * Evaluates an expression against `data` and returns frozen JSON-like data, with dates as
   * ISO strings. Throws an ExpressionError subclass on invalid source, an unknown variable or
   * method, a blocked property or an exceeded limit.
   */
  evaluate(source: string | CompiledExpression, data: ExpressionData = {}): ExpressionResult {
    const compiled = typeof source === 'string' ? this.compile(source) : source;
    const evaluation = this.start(compiled.source, data);
    return toResult(compiled.run(evaluation), this.limits.maxOutputSize);
  }

  /**
   * Renders a template: each `{{ }}` part is evaluated and written as a string (null and
   * undefined as nothing, objects and arrays as JSON, dates as ISO 8601). All parts share one
   * evaluation's limits.
   */
  renderTemplate(template: string | CompiledTemplate, data: ExpressionData = {}): string {
    const compiled = typeof template === 'string' ? this.compileTemplate(template) : template;
    const evaluation = this.start(compiled.source, data);
    const max = this.limits.maxOutputSize;
    let output = compiled.texts[0]!;
    for (let index = 0; index < compiled.parts.length; index++) {
      output +=
        renderValue(compiled.parts[index]!(evaluation), evaluation.budget, max) +
        compiled.texts[index + 1]!;
      if (output.length > max) throw new ExpressionLimitError('outputSize', max);
    }
    return output;
  }

  /** The number of compiled expressions and templates in the cache. */
  get cached(): number {
    return this.expressions.count + this.templates.count;
  }

  /**
   * Starts an evaluation over prepared data, or over the caller's data read in place. The
   * caller's variables must be a plain object; what an expression reads of them is checked
   * on every read, see host.ts.
   */
  private start(source: string, data: ExpressionData): Evaluation {
    if (typeof data !== 'object' || data === null || types.isProxy(data))
      throw new TypeError('expression data must be an object of variables');
    // Proxies are out, so reading the prototype runs no trap.
    if (Object.getPrototypeOf(data) === PreparedData.prototype)
      return new Evaluation(
        new Budget(this.limits),
        source,
        (data as PreparedData).scope,
        false,
        this.now,
      );
    if (classifyHost(data) === 'object')
      return new Evaluation(new Budget(this.limits), source, data, true, this.now);
    throw new TypeError('expression data must be an object of variables');
  }
}

function renderValue(value: Value, budget: Budget, max: number): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && !(value instanceof ExpressionDate)) {
    return JSON.stringify(toResult(value, max));
  }
  return toStr(value, budget);
}

const defaultEngine = new ExpressionEngine();

/** Evaluates an expression with the default limits and a shared cache. */
export function evaluate(source: string, data: ExpressionData = {}): ExpressionResult {
  return defaultEngine.evaluate(source, data);
}

/** Renders a template such as `Total: {{ $json.order.total * 1.2 }}` with the default limits. */
export function renderTemplate(template: string, data: ExpressionData = {}): string {
  return defaultEngine.renderTemplate(template, data);
}
