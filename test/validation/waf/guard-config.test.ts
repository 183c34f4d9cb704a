import { describe, expect, it } from 'vitest';

import { validatePolicy, type PolicyInput } from '../../../src/core/config.js';
import { ConfigError, type ConfigIssue } from '../../../src/core/errors.js';
import { compilePolicy } from '../../../src/runtime/policy.js';
import { compileWafPolicy, wafDefaults } from '../../../src/validation/waf/config.js';

function issuesOf(input: PolicyInput): ConfigIssue[] {
  try {
    validatePolicy(input);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('waf config', () => {
  it('defaults leave the guard off at paranoia 1', () => {
    const policy = compileWafPolicy(validatePolicy({}).waf);
    expect(policy.enabled).toBe(false);
    expect(policy.paranoia).toBe(1);
    expect(policy.threshold).toBe(5);
    expect(policy.mode).toBe('block');
    expect(policy.inspect.headers).toEqual(['user-agent', 'referer']);
    expect(policy.limits).toEqual(wafDefaults.limits);
  });

  it('paranoia outside 1 to 4 is rejected', () => {
    const issues = issuesOf({ waf: { paranoia: 5 } });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('waf.paranoia');
  });

  it('unknown rule in an exclusion names the value', () => {
    const issues = issuesOf({
      routes: [
        {
          match: 'POST /comments',
          waf: { exclusions: [{ field: 'body.text', rules: ['sqli', 'sqlx-001'] }] },
        },
      ],
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.code).toBe('BWK_ERR_CONFIG_WAF');
    expect(issues[0]!.path).toBe('routes.0.waf.exclusions.0.rules.1');
    expect(issues[0]!.message).toContain('"sqlx-001"');
  });

  it('exclusion accepts families, ids and id numbers', () => {
    const config = validatePolicy({
      waf: {
        exclusions: [
          { field: 'body.items[*].note', rules: ['xss', 'sqli-001-tautology', 'command-002'] },
        ],
      },
    });
    expect(config.waf.exclusions).toHaveLength(1);
  });

  it.each([['bodies.comment'], ['body..x'], ['body.items[x]'], ['query q'], ['']])(
    'invalid field glob is rejected: %j',
    (field) => {
      const issues = issuesOf({ waf: { exclusions: [{ field }] } });
      expect(issues[0]!.code).toBe('BWK_ERR_CONFIG_WAF');
      expect(issues[0]!.path).toBe('waf.exclusions.0.field');
    },
  );

  it('unknown sink is rejected', () => {
    const sinks = { 'body.filter': 'ldap', 'query.cmd': 'bash' } as unknown as Record<
      string,
      'ldap'
    >;
    const issues = issuesOf({ waf: { sinks } });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('waf.sinks.query.cmd');
    expect(issues[0]!.message).toContain('"ldap"');
  });

  it('misspelt waf key is rejected', () => {
    const issues = issuesOf({ waf: { treshold: 10 } } as PolicyInput);
    expect(issues[0]!.code).toBe('BWK_ERR_CONFIG_UNKNOWN_KEY');
  });

  it('route settings override and extend the global ones', () => {
    const config = validatePolicy({
      waf: {
        enabled: true,
        paranoia: 2,
        inspect: { headers: ['User-Agent', 'X-Search'], cookies: false },
        exclusions: [{ field: 'body.bio' }],
        sinks: { 'query.file': 'path', 'body.filter': 'ldap' },
      },
      routes: [
        {
          match: 'POST /search',
          waf: {
            paranoia: 3,
            threshold: 10,
            mode: 'report',
            inspect: { query: false },
            exclusions: [{ field: 'body.query', rules: ['sqli'] }],
            sinks: { 'body.filter': 'sql' },
          },
        },
      ],
    });

    const route = compileWafPolicy(config.waf, config.routes[0]!.waf);
    expect(route.enabled).toBe(true);
    expect(route.paranoia).toBe(3);
    expect(route.threshold).toBe(10);
    expect(route.mode).toBe('report');
    expect(route.inspect.query).toBe(false);
    expect(route.inspect.cookies).toBe(false);
    expect(route.inspect.headers).toEqual(['user-agent', 'x-search']);

    expect(route.exclusions.map((exclusion) => exclusion.field.source)).toEqual([
      'body.bio',
      'body.query',
    ]);

    // The route's tag comes first, so it wins over the global tag of the same field.
    const filterSink = route.sinks.find((tag) => tag.field.matches('body.filter'))?.sink;
    expect(filterSink).toBe('sql');
    expect(route.sinks.find((tag) => tag.field.matches('query.file'))?.sink).toBe('path');
  });

  it('route can switch the guard off', () => {
    const config = validatePolicy({
      waf: { enabled: true },
      routes: [{ match: 'POST /upload', waf: { enabled: false } }],
    });
    expect(compileWafPolicy(config.waf, config.routes[0]!.waf).enabled).toBe(false);
  });

  it('guard on buffers parsed bodies without body validation', () => {
    const compiled = compilePolicy(
      validatePolicy({
        body: { validate: false },
        routes: [{ match: 'POST /comments', waf: { enabled: true } }, { match: 'POST /files' }],
      }),
    );
    expect(compiled.routes[0]!.policy.bufferBody).toBe('parsed');
    expect(compiled.routes[1]!.policy.bufferBody).toBe('none');
    expect(compiled.routes[0]!.policy.waf.enabled).toBe(true);
    expect(compiled.waf.enabled).toBe(false);
  });
});
