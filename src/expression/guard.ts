/**
 * The route guard of expression rules: `routes[].expressions.deny` rejects a request when
 * one of its expressions is true. It runs in the input stage, after authentication and
 * scope checks, so rules can read the principal.
 */
import { policyOf, type RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import type { Logger } from '../core/logger.js';
import { problem } from '../core/problem.js';
import { requestValues } from '../validation/request-values.js';
import type { ExpressionRules } from './config-schema.js';
import { ExpressionError } from './errors.js';

/** Log at most one evaluation failure per rule in this interval; the rest are counted. */
const LOG_INTERVAL_MS = 60_000;

type Rule = ExpressionRules['rules'][number];

/**
 * Builds the variables of a request that rules read. It has `$request` (`method`, `path`,
 * `query`, `params`, `headers`, `ip`, `route`) and `$principal` (`type`, `id`, `plan`,
 * `scopes`, or null). `$json` is the parsed JSON or form body, or null when there is none or
 * it was not read. Evaluations read it in place through the evaluator's safe reads and copy
 * only what an expression keeps, so the request is not copied per request.
 */
export function requestView(ctx: RequestContext): Record<string, unknown> {
  const values = requestValues(ctx);
  const principal = ctx.principal;
  const body = values.body;
  return {
    $request: {
      method: ctx.method,
      path: ctx.path,
      query: values.query,
      params: values.params,
      headers: ctx.headers,
      ip: ctx.ip,
      route: ctx.route?.id ?? null,
    },
    $principal:
      principal === undefined
        ? null
        : {
            type: principal.type,
            id: principal.id,
            plan: principal.plan ?? null,
            scopes: principal.scopes ?? [],
          },
    $json: body.kind === 'json' || body.kind === 'form' ? body.value : null,
  };
}

export class ExpressionGuard implements Guard {
  readonly name = 'expressions';
  private readonly logged = new WeakMap<Rule, { at: number; suppressed: number }>();

  constructor(private readonly logger: Logger) {}

  check(ctx: RequestContext): Verdict {
    const rules = (policyOf(ctx) as { expressions?: ExpressionRules } | undefined)?.expressions;
    if (rules === undefined) return CONTINUE;

    const view = requestView(ctx);
    for (const rule of rules.rules) {
      let result: unknown;
      try {
        result = rules.engine.evaluate(rule.expression, view);
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        this.logFailure(ctx, rules, rule, error);
        if (rules.onError === 'deny') return denied(rule, error);
        continue;
      }
      // The result is frozen data the evaluator built, so its truth value runs no code.
      if (result) return denied(rule);
    }
    return CONTINUE;
  }

  private logFailure(
    ctx: RequestContext,
    rules: ExpressionRules,
    rule: Rule,
    error: ExpressionError,
  ): void {
    const now = Date.now();
    const state = this.logged.get(rule);
    if (state !== undefined && now - state.at < LOG_INTERVAL_MS) {
      state.suppressed++;
      return;
    }
    this.logged.set(rule, { at: now, suppressed: 0 });
    // The message names the construct, property or limit, never request data.
    this.logger.warn(
      {
        route: rules.route,
        rule: rule.index,
        code: error.code,
        error: error.message,
        requestId: ctx.id,
        onError: rules.onError,
        suppressed: state?.suppressed ?? 0,
      },
      'expression rule failed to evaluate',
    );
  }
}

function denied(rule: Rule, error?: ExpressionError): Verdict {
  const detail =
    error === undefined
      ? rule.reason
      : 'A route rule could not be evaluated, so the request was rejected.';
  return {
    action: 'reject',
    status: rule.status,
    headers: {},
    problem: problem(
      'expression-denied',
      rule.status,
      rule.status === 403 ? 'Forbidden' : 'Request rejected',
      'BWK_ERR_EXPRESSION_DENIED',
      { detail },
    ),
    event: {
      type: 'expression.denied',
      category: 'authorization',
      severity: 'medium',
      details:
        error === undefined
          ? { rule: rule.index, reason: rule.reason }
          : { rule: rule.index, reason: rule.reason, error: error.code },
    },
  };
}
