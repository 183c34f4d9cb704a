import { describe, expect, it } from 'vitest';

import { validateConfig, validatePolicy, type ConfigInput } from '../../src/core/config.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';

const BASE: ConfigInput = { upstream: 'http://127.0.0.1:3000' };

function issuesOf(validate: () => unknown): ConfigIssue[] {
  try {
    validate();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('connections and loadShedding configuration', () => {
  it('applies safe connection defaults', () => {
    const config = validateConfig(BASE);

    expect(config.connections).toEqual({
      perIp: {
        maxConcurrent: 128,
        maxNewPerSecond: 64,
        ipv6Prefix: 64,
        allow: ['127.0.0.0/8', '::1'],
      },
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      maxRequestsPerConnection: 0,
      reportInterval: 10_000,
    });
  });

  it('leaves load shedding off unless configured', () => {
    expect(validateConfig(BASE).loadShedding).toBeUndefined();
    expect(validateConfig({ ...BASE, loadShedding: {} }).loadShedding).toMatchObject({
      initialLimit: 20,
      queue: { size: 100, timeout: 1_000 },
      retryAfter: 1_000,
    });
  });

  it('rejects a header deadline longer than the request deadline', () => {
    const issues = issuesOf(() =>
      validateConfig({ ...BASE, connections: { headersTimeout: '1m', requestTimeout: '30s' } }),
    );

    expect(issues).toEqual([
      expect.objectContaining({
        path: 'connections.headersTimeout',
        code: 'BWK_ERR_CONFIG_CONFLICT',
      }),
    ]);
  });

  it('rejects a zero header deadline', () => {
    const issues = issuesOf(() =>
      validateConfig({ ...BASE, connections: { headersTimeout: '0s' } }),
    );

    expect(issues[0]).toMatchObject({
      path: 'connections.headersTimeout',
      code: 'BWK_ERR_CONFIG_DURATION',
    });
  });

  it('rejects a bad allowlist entry', () => {
    const issues = issuesOf(() =>
      validateConfig({ ...BASE, connections: { perIp: { allow: ['10.0.0.0/33'] } } }),
    );

    expect(issues[0]).toMatchObject({
      path: 'connections.perIp.allow.0',
      code: 'BWK_ERR_CONFIG_CIDR',
    });
  });

  it('rejects limits that do not nest', () => {
    const issues = issuesOf(() =>
      validateConfig({ ...BASE, loadShedding: { minLimit: 50, maxLimit: 10, initialLimit: 20 } }),
    );

    expect(issues.map((issue) => [issue.path, issue.code])).toEqual([
      ['loadShedding.minLimit', 'BWK_ERR_CONFIG_CONFLICT'],
      ['loadShedding.initialLimit', 'BWK_ERR_CONFIG_CONFLICT'],
    ]);
  });

  it('rejects an unknown route priority', () => {
    const issues = issuesOf(() =>
      validateConfig({
        ...BASE,
        routes: [{ match: 'GET /health', loadShedding: { priority: 'urgent' as 'critical' } }],
      }),
    );

    expect(issues[0]).toMatchObject({
      path: 'routes.0.loadShedding.priority',
      code: 'BWK_ERR_CONFIG_VALUE',
    });
  });

  it('accepts loadShedding in adapter options', () => {
    const policy = validatePolicy({ loadShedding: { queue: { size: 0 } } });

    expect(policy.loadShedding?.queue).toEqual({ size: 0, timeout: 1_000 });
  });

  it('rejects connections in adapter options', () => {
    const issues = issuesOf(() => validatePolicy({ connections: {} }));

    expect(issues[0]).toMatchObject({ code: 'BWK_ERR_CONFIG_UNKNOWN_KEY' });
  });
});
