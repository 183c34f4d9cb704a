import { z } from 'zod';

import { ExpressionEngine, type CompiledExpression } from './engine.js';
import { ExpressionError } from './errors.js';
import type { ExpressionLimits } from './limits.js';

/**
 * The per-route `expressions` part of the configuration schema: rules that reject a request
 * when an expression over the request is true. Each expression is compiled while the file
 * is checked, so a rule that does not parse stops the start.
 */

const CODE = 'BWK_ERR_CONFIG_EXPRESSION';

const ruleSchema = z
  .object({
    /** An expression over `$request`, `$principal` and `$json`; a true result rejects. */
    when: z.string().min(1).max(4_096),
    /** The response status of a rejection. */
    status: z.number().int().min(400).max(499).default(403),
    /** Written into the problem's `detail` and the event; the author's text, not the client's. */
    reason: z.string().min(1).max(256).default('The request was denied by a route rule.'),
  })
  .strict();

/**
 * Per-route overrides of the evaluation limits; unset ones keep DEFAULT_LIMITS. The upper
 * bounds keep a typo from turning a limit off: `maxDepth` also bounds the evaluator's
 * recursion, so it stays well below the stack's depth.
 */
const limitsSchema = z
  .object({
    maxSourceLength: z.number().int().positive().max(65_536),
    maxNodes: z.number().int().positive().max(100_000),
    maxDepth: z.number().int().positive().max(256),
    maxSteps: z.number().int().positive().max(10_000_000),
    maxCallDepth: z.number().int().positive().max(64),
    maxStringLength: z.number().int().positive().max(10_000_000),
    maxArrayLength: z.number().int().positive().max(1_000_000),
    maxOutputSize: z.number().int().positive().max(10_000_000),
    timeoutMs: z.number().int().positive().max(10_000),
    maxDataValues: z.number().int().positive().max(10_000_000),
  })
  .partial()
  .strict();

export const routeExpressionsSchema = z
  .object({
    deny: z.array(ruleSchema).min(1).max(64),
    /** Limits of each evaluation on this route, e.g. `{ maxSteps: 10000, timeoutMs: 20 }`. */
    limits: limitsSchema.optional(),
    /**
     * The decision for a rule whose expression fails at run time (an unknown variable, a limit):
     * `deny` rejects the request with the rule's status, `allow` lets it through. Either way
     * the failure is logged.
     */
    onError: z.enum(['deny', 'allow']).default('deny'),
  })
  .strict();

export type RouteExpressionsConfig = z.output<typeof routeExpressionsSchema>;

/** Route rules compiled at start. */
export interface ExpressionRules {
  readonly route: string;
  readonly onError: 'deny' | 'allow';
  readonly rules: ReadonlyArray<{
    readonly index: number;
    readonly expression: CompiledExpression;
    readonly status: number;
    readonly reason: string;
  }>;
  /** Whether any rule reads `$json`, so the route's JSON and form bodies are read first. */
  readonly readsBody: boolean;
  /** The engine that compiled the rules, with the route's limits. */
  readonly engine: ExpressionEngine;
}

/** The engine of route rules: default limits, no cache, since rules are compiled once. */
export const ruleEngine = new ExpressionEngine({ cacheSize: 0 });

/** Returns the engine for a route's limits: the shared one, or one of its own for overrides. */
function engineFor(limits: Partial<ExpressionLimits> | undefined): ExpressionEngine {
  if (limits === undefined || Object.keys(limits).length === 0) return ruleEngine;
  return new ExpressionEngine({ cacheSize: 0, limits });
}

// Conservative: `$json` inside a string literal also counts, which only buffers more bodies.
const READS_BODY = /\$json\b/;

/** Tells whether any of a route's rules reads `$json`, so its bodies must be read first. */
export function expressionsReadBody(config: RouteExpressionsConfig | undefined): boolean {
  return config?.deny.some((rule) => READS_BODY.test(rule.when)) ?? false;
}

/** Compiles a route's rules; throws an ExpressionError for a rule that does not compile. */
export function compileExpressionRules(
  config: RouteExpressionsConfig | undefined,
  route: string,
): ExpressionRules | undefined {
  if (config === undefined) return undefined;
  const engine = engineFor(config.limits);
  return {
    route,
    onError: config.onError,
    engine,
    rules: config.deny.map((rule, index) => ({
      index,
      expression: engine.compile(rule.when),
      status: rule.status,
      reason: rule.reason,
    })),
    readsBody: expressionsReadBody(config),
  };
}

type ExpressionsLike = {
  routes: ReadonlyArray<{ match: { text: string }; expressions?: RouteExpressionsConfig }>;
};

/** Compiles every route rule and reports each one that does not compile, with its position. */
export function checkExpressions(config: ExpressionsLike, ctx: z.RefinementCtx): void {
  config.routes.forEach((route, routeIndex) => {
    if (route.expressions === undefined) return;
    let engine: ExpressionEngine;
    try {
      engine = engineFor(route.expressions.limits);
    } catch (error) {
      // The refinement also runs when a limit failed the schema, which has reported it.
      if (error instanceof TypeError) return;
      throw error;
    }
    route.expressions.deny.forEach((rule, ruleIndex) => {
      try {
        engine.compile(rule.when);
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        ctx.addIssue({
          code: 'custom',
          path: ['routes', routeIndex, 'expressions', 'deny', ruleIndex, 'when'],
          message: `route "${route.match.text}": ${error.message}`,
          params: { bwk: CODE },
        });
      }
    });
  });
}
