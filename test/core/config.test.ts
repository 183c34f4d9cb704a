import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfigFile, parseConfigText, validateConfig } from '../../src/core/config.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';

const EXAMPLE = `
listen: { host: 127.0.0.1, port: 8080 }
upstream: http://127.0.0.1:3000
trustProxy: []
rateLimits:
  - { name: per-ip, key: ip, limit: 100, window: 1m, algorithm: sliding-window-log }
routes:
  - match: POST /login
    rateLimits:
      - { name: login, key: ip, limit: 5, window: 15m, blockFor: 15m }
`;

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfigText(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  throw new Error('expected the configuration to be rejected');
}

describe('configuration', () => {
  it('accepts the documented example', () => {
    const config = parseConfigText(EXAMPLE);
    expect(config.rateLimits[0]).toMatchObject({ name: 'per-ip', limit: 100, window: 60_000 });
    expect(config.routes[0]!.match).toEqual({
      methods: ['POST'],
      path: '/login',
      text: 'POST /login',
    });
    expect(config.routes[0]!.rateLimits[0]).toMatchObject({ window: 900_000, blockFor: 900_000 });
    expect(config.storage.redis).toBeUndefined();
  });

  it('accepts the example with a Redis store', () => {
    const config = parseConfigText(`${EXAMPLE}\nstorage: { redis: redis://127.0.0.1:6379/0 }\n`);
    expect(config.storage.redis).toBe('redis://127.0.0.1:6379/0');
    expect(config.storage.onRedisFailure).toBe('fallback');
  });

  it('applies safe defaults and freezes the result', () => {
    const config = validateConfig({ upstream: 'http://127.0.0.1:3000' });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.rateLimiting.ipv6Prefix).toBe(64);
    expect(config.admin.allow).toEqual(['127.0.0.0/8', '::1']);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });

  it('names path, value and code of each problem', () => {
    const issues = issuesOf(`
upstream: http://127.0.0.1:3000
rateLimits:
  - { name: per-ip, key: ip, limit: 0, window: 1m }
`);
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'rateLimits.0.limit',
        value: '0',
        code: 'BWK_ERR_CONFIG_VALUE',
      }),
    ]);
  });

  it('rejects a misspelt key instead of ignoring it', () => {
    const issues = issuesOf(`upstream: http://127.0.0.1:3000\nrateLimts: []\n`);
    expect(issues[0]).toMatchObject({ path: '', code: 'BWK_ERR_CONFIG_UNKNOWN_KEY' });
    expect(issues[0]!.message).toContain('"rateLimts"');
  });

  it.each([
    ['window: 1q', 'rateLimits.0.window', 'BWK_ERR_CONFIG_DURATION'],
    ['window: 0s', 'rateLimits.0.window', 'BWK_ERR_CONFIG_DURATION'],
    ['window: 1m, key: ipp', 'rateLimits.0.key', 'BWK_ERR_CONFIG_KEY'],
    ['window: 1m, algorithm: leaky', 'rateLimits.0.algorithm', 'BWK_ERR_CONFIG_VALUE'],
    ['window: 1m, burst: 5', 'rateLimits.0.burst', 'BWK_ERR_CONFIG_CONFLICT'],
  ])('rejects rate limit with %s', (fields, path, code) => {
    const issues = issuesOf(
      `upstream: http://127.0.0.1:3000\nrateLimits:\n  - { name: a, limit: 5, ${fields} }\n`,
    );
    expect(issues.map((issue) => [issue.path, issue.code])).toContainEqual([path, code]);
  });

  it('rejects an invalid trusted proxy range', () => {
    const issues = issuesOf(`upstream: http://127.0.0.1:3000\ntrustProxy: [10.0.0.0/33]\n`);
    expect(issues[0]).toMatchObject({
      path: 'trustProxy.0',
      code: 'BWK_ERR_CONFIG_CIDR',
      value: '"10.0.0.0/33"',
    });
  });

  it('rejects unknown methods and duplicate routes', () => {
    expect(issuesOf(`upstream: http://a.test\nroutes: [{ match: FETCH /x }]\n`)[0]).toMatchObject({
      path: 'routes.0.match',
      code: 'BWK_ERR_CONFIG_ROUTE',
    });
    const duplicate = issuesOf(
      `upstream: http://a.test\nroutes: [{ match: GET /x }, { match: '* /x' }]\n`,
    );
    expect(duplicate[0]).toMatchObject({
      path: 'routes.1.match',
      code: 'BWK_ERR_CONFIG_DUPLICATE',
    });
  });

  it('reports YAML syntax errors with a line', () => {
    const issues = issuesOf('upstream: [\n');
    expect(issues[0]!.code).toBe('BWK_ERR_CONFIG_YAML');
    expect(issues[0]!.value).toMatch(/^line \d+/);
  });

  it('bounds alias expansion', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let level = 1; level < 8; level++) {
      const previous = String.fromCharCode(96 + level);
      const name = String.fromCharCode(97 + level);
      bomb.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(',')}]`);
    }
    const issues = issuesOf(`upstream: http://a.test\n${bomb.join('\n')}\n`);
    expect(issues[0]).toMatchObject({ code: 'BWK_ERR_CONFIG_YAML', value: 'aliases' });
  });

  it('rejects a duration without a unit', () => {
    const issues = issuesOf(
      `upstream: http://127.0.0.1:3000\nrateLimits:\n  - { name: a, limit: 5, window: 60 }\n`,
    );
    expect(issues[0]).toMatchObject({
      path: 'rateLimits.0.window',
      code: 'BWK_ERR_CONFIG_DURATION',
    });
    expect(issues[0]!.message).toContain('60s');
  });

  it('rejects a limit name twice in one list', () => {
    const global = issuesOf(
      `upstream: http://a.test\nrateLimits:\n  - { name: a, limit: 5, window: 1m }\n  - { name: a, limit: 9, window: 1m }\n`,
    );
    expect(global[0]).toMatchObject({
      path: 'rateLimits.1.name',
      code: 'BWK_ERR_CONFIG_DUPLICATE',
    });
    const route = issuesOf(
      `upstream: http://a.test\nroutes:\n  - match: GET /x\n    rateLimits: [{ name: a, limit: 5, window: 1m }, { name: a, limit: 5, window: 1m }]\n`,
    );
    expect(route[0]).toMatchObject({
      path: 'routes.0.rateLimits.1.name',
      code: 'BWK_ERR_CONFIG_DUPLICATE',
    });
  });

  it('rejects a shared route limit with other settings', () => {
    const issues = issuesOf(`upstream: http://a.test
routes:
  - { match: POST /login, rateLimits: [{ name: auth, limit: 5, window: 15m }] }
  - { match: POST /reset, rateLimits: [{ name: auth, limit: 9, window: 15m }] }
`);
    expect(issues[0]).toMatchObject({
      path: 'routes.1.rateLimits.0.name',
      code: 'BWK_ERR_CONFIG_DUPLICATE',
    });
    expect(issues[0]!.message).toContain('routes.0');
  });

  it('accepts identical shared limits and overrides', () => {
    const config = parseConfigText(`upstream: http://a.test
rateLimits: [{ name: per-ip, limit: 100, window: 1m }]
routes:
  - { match: POST /login, rateLimits: [{ name: auth, limit: 5, window: 15m }, { name: per-ip, limit: 10, window: 1m }] }
  - { match: POST /reset, rateLimits: [{ name: auth, limit: 5, window: 15m }] }
`);
    expect(config.routes).toHaveLength(2);
  });

  it('names a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bwk-config-'));
    expect(() => loadConfigFile(join(dir, 'missing.yaml'))).toThrow(/file not found/);
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, EXAMPLE);
    expect(loadConfigFile(file).upstream).toBe('http://127.0.0.1:3000');
  });
});
