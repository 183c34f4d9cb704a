import type { RequestContext } from '../core/context.js';
import { CONTINUE, isPromise, type Guard, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import { formatDuration } from '../core/duration.js';
import { writeRateLimitHeaders, mostRestrictive, seconds, type HeaderOptions } from './headers.js';
import type { KeyBuilder } from './keys.js';
import type { LimitCheck, LimitDecision, LimitPolicy, RateLimitStore } from './policy.js';

/** A policy ready to run: how to build its key, what a request costs, limits per plan. */
export interface CompiledLimit {
  policy: LimitPolicy;
  key: KeyBuilder;
  cost: number;
  tiers?: Readonly<Record<string, number>>;
  /** Prefix of the counter's storage key; `policy.name` unless the limit needs its own. */
  counter?: string;
}

export interface RateLimitGuardOptions {
  store: RateLimitStore;
  /** Limits for requests that match no route, and the default for routes. */
  limits: readonly CompiledLimit[];
  /** Limits for a matched route; defaults to reading `ctx.route.policy.rateLimits`. */
  limitsFor?: (ctx: RequestContext) => readonly CompiledLimit[] | undefined;
  headers?: HeaderOptions;
  reportOnly?: boolean;
}

/**
 * Checks every limit that applies to a request in one store call, so a rejected request
 * consumes no quota anywhere and Redis gets one round trip. Headers are written on every
 * response from the same decisions as the verdict.
 */
export class RateLimitGuard implements Guard {
  readonly name = 'ratelimit';
  readonly reportOnly: boolean;
  private readonly store: RateLimitStore;
  private readonly limits: readonly CompiledLimit[];
  private readonly limitsFor: (ctx: RequestContext) => readonly CompiledLimit[] | undefined;
  private readonly headers: HeaderOptions;

  constructor(options: RateLimitGuardOptions) {
    this.store = options.store;
    this.limits = options.limits;
    this.limitsFor = options.limitsFor ?? routeLimits;
    this.headers = options.headers ?? { draft: true, legacy: true };
    this.reportOnly = options.reportOnly ?? false;
  }

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    const limits = this.limitsFor(ctx) ?? this.limits;
    const checks: LimitCheck[] = [];
    for (const limit of limits) {
      const key = limit.key(ctx);
      if (key === undefined) continue;
      const plan = ctx.principal?.plan;
      checks.push({
        policy: limit.policy,
        key: `${limit.counter ?? limit.policy.name}:${key}`,
        cost: limit.cost,
        limit:
          plan !== undefined && limit.tiers
            ? (limit.tiers[plan] ?? limit.policy.limit)
            : limit.policy.limit,
      });
    }
    if (checks.length === 0) return CONTINUE;

    const decisions = this.store.consume(checks);
    if (isPromise(decisions)) return decisions.then((settled) => this.decide(ctx, checks, settled));
    return this.decide(ctx, checks, decisions);
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  private decide(
    ctx: RequestContext,
    checks: readonly LimitCheck[],
    decisions: readonly LimitDecision[],
  ): Verdict {
    writeRateLimitHeaders(
      ctx.responseHeaders,
      decisions,
      checks.map((check) => check.policy.windowMs),
      this.headers,
    );
    let rejected = false;
    for (const decision of decisions) if (!decision.allowed) rejected = true;
    if (!rejected) return CONTINUE;

    const worst = mostRestrictive(decisions);
    if (worst.unavailable) return this.unavailable(worst);
    const check = checks[decisions.indexOf(worst)]!;
    const headers: Record<string, string> = {};
    const retryAfter = seconds(worst.retryAfterMs);
    if (Number.isFinite(worst.retryAfterMs))
      headers['retry-after'] = String(Math.max(1, retryAfter));
    const detail = Number.isFinite(worst.retryAfterMs)
      ? `Rate limit "${worst.policy}" of ${worst.limit} per ${formatDuration(check.policy.windowMs)} exceeded; retry in ${Math.max(1, retryAfter)} s.`
      : `This request costs ${check.cost}, more than the limit "${worst.policy}" of ${worst.limit} admits.`;

    return {
      action: 'reject',
      status: 429,
      headers,
      problem: problem('rate-limited', 429, 'Too Many Requests', 'BWK_ERR_RATE_LIMITED', {
        detail,
        policy: worst.policy,
        retryAfter: Number.isFinite(worst.retryAfterMs) ? Math.max(1, retryAfter) : null,
      }),
      event: {
        type: 'ratelimit.exceeded',
        category: 'violation',
        severity: worst.blocked ? 'medium' : 'low',
        details: {
          policy: worst.policy,
          limit: worst.limit,
          windowMs: check.policy.windowMs,
          cost: check.cost,
          retryAfterMs: Number.isFinite(worst.retryAfterMs) ? worst.retryAfterMs : null,
          blocked: worst.blocked,
          store: this.store.kind,
        },
      },
    };
  }

  /**
   * Rejects with 503 when Redis is unreachable and the failure mode is `closed`: the client
   * did not exceed anything, so a 429 and a violation event would mislead both sides.
   */
  private unavailable(decision: LimitDecision): Verdict {
    const retryAfter = Math.max(1, seconds(decision.retryAfterMs));
    return {
      action: 'reject',
      status: 503,
      headers: { 'retry-after': String(retryAfter) },
      problem: problem(
        'rate-limit-unavailable',
        503,
        'Service Unavailable',
        'BWK_ERR_RATE_LIMIT_UNAVAILABLE',
        {
          detail: `Rate limits cannot be checked right now and are configured to fail closed; retry in ${retryAfter} s.`,
          retryAfter,
        },
      ),
      event: {
        type: 'ratelimit.unavailable',
        category: 'system',
        severity: 'high',
        details: { policy: decision.policy, store: this.store.kind },
      },
    };
  }
}

function routeLimits(ctx: RequestContext): readonly CompiledLimit[] | undefined {
  return (ctx.route?.policy as { rateLimits?: readonly CompiledLimit[] } | undefined)?.rateLimits;
}
