import { describe, expect, it } from 'vitest';

import { validatePolicy, type PolicyInput } from '../../src/core/config.js';
import { createContext, type Principal, type RequestContext } from '../../src/core/context.js';
import { CONTINUE, type Guard } from '../../src/core/guard.js';
import type { Decision } from '../../src/core/pipeline.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { RateLimitStore } from '../../src/ratelimit/policy.js';
import { Protection } from '../../src/runtime/protection.js';

interface RequestSpec {
  method?: string;
  url?: string;
  ip?: string;
  headers?: Record<string, string>;
  principal?: Principal;
}

/** A guard standing in for authentication: copies the principal the test attached. */
const principalFromTest: Guard = {
  name: 'test-auth',
  check: (ctx) => {
    ctx.principal = (ctx.headers as { principal?: Principal }).principal;
    return CONTINUE;
  },
};

function protection(policy: PolicyInput): {
  run: (spec?: RequestSpec) => Decision;
  events: SecurityEvent[];
} {
  const created = new Protection(validatePolicy(policy), { extraGuards: [principalFromTest] });
  const events: SecurityEvent[] = [];
  created.bus.subscribe((event) => events.push(event));
  const run = (spec: RequestSpec = {}): Decision => {
    const ctx: RequestContext = createContext({
      id: 'req',
      correlationId: 'corr',
      method: spec.method ?? 'GET',
      url: spec.url ?? '/orders',
      headers: {
        ...spec.headers,
        principal: spec.principal,
      } as unknown as RequestContext['headers'],
      ip: spec.ip ?? '192.0.2.1',
      remoteAddress: spec.ip ?? '192.0.2.1',
      receivedAt: 0,
    });
    ctx.route = created.routes.match(ctx.method, ctx.path);
    const decision = created.pipeline.run(ctx);
    if (decision instanceof Promise) throw new Error('the memory store answers synchronously');
    return decision;
  };
  return { run, events };
}

function statuses(run: () => Decision, times: number): number[] {
  return Array.from({ length: times }, () => {
    const decision = run();
    return decision.action === 'reject' ? decision.status : 200;
  });
}

describe('rate-limit guard', () => {
  it('tiers give each plan its limit', () => {
    const { run } = protection({
      rateLimits: [{ name: 'per-user', key: 'user', limit: 2, window: '1m', tiers: { pro: 4 } }],
    });
    const free: Principal = { type: 'user', id: 'u1', plan: 'free' };
    const pro: Principal = { type: 'user', id: 'u2', plan: 'pro' };

    expect(statuses(() => run({ principal: free }), 3)).toEqual([200, 200, 429]);
    expect(statuses(() => run({ principal: pro }), 5)).toEqual([200, 200, 200, 200, 429]);
  });

  it('skips a limit whose key is absent', () => {
    const { run } = protection({
      rateLimits: [{ name: 'per-user', key: 'user', limit: 1, window: '1m' }],
    });
    expect(statuses(() => run(), 3)).toEqual([200, 200, 200]);
  });

  it('combined key counts per ip and route', () => {
    const { run } = protection({
      rateLimits: [{ name: 'ip-route', key: 'ip+route', limit: 1, window: '1m' }],
      routes: [{ match: 'GET /orders' }, { match: 'GET /accounts/:id' }],
    });
    expect(statuses(() => run({ url: '/orders' }), 2)).toEqual([200, 429]);
    expect(statuses(() => run({ url: '/accounts/1' }), 1)).toEqual([200]);
    expect(statuses(() => run({ url: '/accounts/2' }), 1)).toEqual([429]);
    expect(statuses(() => run({ url: '/orders', ip: '192.0.2.2' }), 1)).toEqual([200]);
  });

  it('header key counts per header value', () => {
    const { run } = protection({
      rateLimits: [{ name: 'tenant', key: 'header:X-Tenant', limit: 1, window: '1m' }],
    });
    expect(statuses(() => run({ headers: { 'x-tenant': 'a' } }), 2)).toEqual([200, 429]);
    expect(statuses(() => run({ headers: { 'x-tenant': 'b' } }), 1)).toEqual([200]);
  });

  it('route limit replaces a global one of the same name', () => {
    const { run } = protection({
      rateLimits: [{ name: 'per-ip', limit: 1, window: '1m' }],
      routes: [{ match: 'GET /orders', rateLimits: [{ name: 'per-ip', limit: 3, window: '1m' }] }],
    });
    expect(statuses(() => run({ url: '/orders' }), 4)).toEqual([200, 200, 200, 429]);
  });

  it('cost above the limit has no Retry-After', () => {
    const { run } = protection({ rateLimits: [{ name: 'big', limit: 2, window: '1m', cost: 3 }] });
    const decision = run();
    expect(decision.action).toBe('reject');
    if (decision.action !== 'reject') return;
    expect(decision.headers['retry-after']).toBeUndefined();
    expect(decision.body).toMatchObject({ code: 'BWK_ERR_RATE_LIMITED', retryAfter: null });
  });

  it('rejection event names policy without key', () => {
    const { run, events } = protection({
      rateLimits: [{ name: 'per-ip', limit: 1, window: '1m', blockFor: '5m' }],
    });
    run();
    run();
    run();
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      type: 'ratelimit.exceeded',
      outcome: 'blocked',
      severity: 'low',
      actor: { ip: '192.0.2.1' },
      details: { policy: 'per-ip', limit: 1, windowMs: 60_000, blocked: false, store: 'memory' },
    });
    expect(events[1]).toMatchObject({ severity: 'medium', details: { blocked: true } });
    expect(JSON.stringify(events[0]!.details)).not.toContain('192.0.2.1');
  });

  it('writes headers only when switched on', () => {
    const { run } = protection({
      rateLimits: [{ name: 'per-ip', limit: 5, window: '1m' }],
      rateLimiting: { headers: { draft: true, legacy: false } },
    });
    const decision = run();
    expect(decision.headers).toEqual({
      'ratelimit-policy': '"per-ip";q=5;w=60',
      ratelimit: '"per-ip";r=4;t=60',
    });
  });
});

describe('limit names', () => {
  it('route override counts separately from global', () => {
    const { run } = protection({
      rateLimits: [{ name: 'per-ip', limit: 2, window: '1m' }],
      routes: [{ match: 'GET /orders', rateLimits: [{ name: 'per-ip', limit: 3, window: '1m' }] }],
    });
    expect(statuses(() => run({ url: '/other' }), 2)).toEqual([200, 200]);
    expect(statuses(() => run({ url: '/orders' }), 4)).toEqual([200, 200, 200, 429]);
    expect(statuses(() => run({ url: '/other' }), 1)).toEqual([429]);
  });

  it('same route limit name shares one counter', () => {
    const shared = { name: 'auth', limit: 3, window: '15m' };
    const { run } = protection({
      routes: [
        { match: 'POST /login', rateLimits: [shared] },
        { match: 'POST /reset', rateLimits: [shared] },
      ],
    });
    expect(statuses(() => run({ method: 'POST', url: '/login' }), 2)).toEqual([200, 200]);
    expect(statuses(() => run({ method: 'POST', url: '/reset' }), 2)).toEqual([200, 429]);
  });
});

describe('fail-closed store', () => {
  it('answers 503 with an unavailable event', () => {
    const closedStore: RateLimitStore = {
      kind: 'fail-closed',
      consume: (checks) =>
        checks.map((check) => ({
          policy: check.policy.name,
          allowed: false,
          limit: check.policy.limit,
          remaining: 0,
          resetMs: 1_000,
          retryAfterMs: 1_000,
          blocked: false,
          unavailable: true,
        })),
      reset: () => undefined,
      close: () => Promise.resolve(),
    };
    const created = new Protection(
      validatePolicy({ rateLimits: [{ name: 'per-ip', limit: 5, window: '1m' }] }),
      { store: closedStore },
    );
    const events: SecurityEvent[] = [];
    created.bus.subscribe((event) => events.push(event));
    const ctx = createContext({
      id: 'req',
      correlationId: 'corr',
      method: 'GET',
      url: '/',
      headers: {},
      ip: '192.0.2.1',
      remoteAddress: '192.0.2.1',
      receivedAt: 0,
    });

    const decision = created.pipeline.run(ctx) as Decision;

    expect(decision).toMatchObject({
      action: 'reject',
      status: 503,
      headers: { 'retry-after': '1' },
      body: { code: 'BWK_ERR_RATE_LIMIT_UNAVAILABLE' },
    });
    expect(events[0]).toMatchObject({
      type: 'ratelimit.unavailable',
      category: 'system',
      severity: 'high',
    });
  });
});
