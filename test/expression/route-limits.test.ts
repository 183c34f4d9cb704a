import { describe, expect, it } from 'vitest';

import { validateConfig } from '../../src/core/config.js';
import { createContext } from '../../src/core/context.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { compileExpressionRules, ruleEngine } from '../../src/expression/config-schema.js';
import { ExpressionGuard } from '../../src/expression/guard.js';

function contextFor(rules: ReturnType<typeof compileExpressionRules>) {
  return createContext({
    id: 'r1',
    correlationId: 'r1',
    method: 'GET',
    url: '/items?tags=a',
    headers: {},
    ip: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    receivedAt: 0,
    route: { id: 'GET /items', params: {}, policy: { expressions: rules } },
  });
}

describe('per-route expression limits', () => {
  const guard = new ExpressionGuard(createLogger({ level: 'silent' }));
  const when = '[1, 2, 3, 4, 5, 6, 7, 8].map(x => x * 2).length > 100';

  it('default limits let the rule run', () => {
    const rules = compileExpressionRules(
      { onError: 'deny', deny: [{ when, status: 403, reason: 'r' }] },
      'GET /items',
    );
    expect(rules!.engine).toBe(ruleEngine);
    expect(guard.check(contextFor(rules))).toEqual({ action: 'continue' });
  });

  it('step limit of the route stops the rule', () => {
    const rules = compileExpressionRules(
      { onError: 'deny', limits: { maxSteps: 10 }, deny: [{ when, status: 403, reason: 'r' }] },
      'GET /items',
    );
    expect(rules!.engine.limits.maxSteps).toBe(10);
    expect(rules!.engine.limits.timeoutMs).toBe(ruleEngine.limits.timeoutMs);
    const verdict = guard.check(contextFor(rules));
    expect(verdict).toMatchObject({ action: 'reject', status: 403 });
    expect((verdict as { event: { details: unknown } }).event.details).toEqual({
      rule: 0,
      reason: 'r',
      error: 'BWK_ERR_EXPRESSION_LIMIT',
    });
  });

  it('limit failure passes with onError allow', () => {
    const rules = compileExpressionRules(
      { onError: 'allow', limits: { maxSteps: 10 }, deny: [{ when, status: 403, reason: 'r' }] },
      'GET /items',
    );
    expect(guard.check(contextFor(rules))).toEqual({ action: 'continue' });
  });

  it('validated config carries the limits', () => {
    const config = validateConfig({
      upstream: 'http://127.0.0.1:9',
      routes: [
        {
          match: 'GET /items',
          expressions: {
            limits: { maxSteps: 500, timeoutMs: 20 },
            deny: [{ when: '$json.a > 1' }],
          },
        },
      ],
    });
    expect(config.routes[0]!.expressions!.limits).toEqual({ maxSteps: 500, timeoutMs: 20 });
  });

  it('compile-time limit of the route stops the start', () => {
    let caught: unknown;
    try {
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [
          {
            match: 'GET /items',
            expressions: { limits: { maxNodes: 3 }, deny: [{ when: '$json.a + $json.b > 1' }] },
          },
        ],
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toContain(
      'route "GET /items": expression exceeded the nodes limit of 3',
    );
  });

  it('unknown limit name is rejected', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [
          { match: 'GET /x', expressions: { limits: { maxStep: 5 }, deny: [{ when: 'true' }] } },
        ],
      }),
    ).toThrow(/routes\.0\.expressions\.limits/);
  });

  it('depth above 256 is rejected', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [
          {
            match: 'GET /x',
            expressions: { limits: { maxDepth: 10_000 }, deny: [{ when: 'true' }] },
          },
        ],
      }),
    ).toThrow(/routes\.0\.expressions\.limits\.maxDepth/);
  });

  it('zero limit is rejected', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [
          { match: 'GET /x', expressions: { limits: { timeoutMs: 0 }, deny: [{ when: 'true' }] } },
        ],
      }),
    ).toThrow(/routes\.0\.expressions\.limits\.timeoutMs/);
  });
});
