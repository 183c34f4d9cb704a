import { describe, expect, it } from 'vitest';

import { validateConfig, validatePolicy, type ConfigInput } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';

const UPSTREAM = 'http://127.0.0.1:3000';

function issuesOf(input: Partial<ConfigInput>): Array<{ code: string; path: string }> {
  try {
    validateConfig({ upstream: UPSTREAM, ...input } as ConfigInput);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(({ code, path }) => ({ code, path }));
    throw error;
  }
  return [];
}

describe('oauth configuration', () => {
  it('empty section takes the defaults', () => {
    const { oauth } = validateConfig({ upstream: UPSTREAM, oauth: {} });

    expect(oauth).toEqual({
      tokenLifetime: 3_600_000,
      clockTolerance: 30_000,
      secretRotationGrace: 86_400_000,
      signingKeys: { algorithm: 'EdDSA', rotateEvery: 30 * 86_400_000, keepRetiredFor: 3_630_000 },
      paths: {
        token: '/oauth/token',
        introspection: '/oauth/introspect',
        revocation: '/oauth/revoke',
        jwks: '/.well-known/jwks.json',
        metadata: '/.well-known/oauth-authorization-server',
      },
    });
  });

  it('durations are parsed', () => {
    const { oauth } = validateConfig({
      upstream: UPSTREAM,
      oauth: { tokenLifetime: '15m', signingKeys: { rotateEvery: '7d', keepRetiredFor: '1h' } },
    });

    expect(oauth?.tokenLifetime).toBe(900_000);
    expect(oauth?.signingKeys.rotateEvery).toBe(7 * 86_400_000);
    expect(oauth?.signingKeys.keepRetiredFor).toBe(3_600_000);
  });

  it('oauth method without the section is rejected', () => {
    const issues = issuesOf({
      auth: { methods: ['oauth'] },
      routes: [{ match: 'GET /x', auth: { methods: ['jwt', 'oauth'] } }],
    });

    expect(issues).toContainEqual({ code: 'BWK_ERR_CONFIG_OAUTH', path: 'auth.methods' });
    expect(issues).toContainEqual({ code: 'BWK_ERR_CONFIG_OAUTH', path: 'routes.0.auth.methods' });
  });

  it('oauth method in library options is rejected', () => {
    expect(() => validatePolicy({ auth: { methods: ['oauth'] } })).toThrow(/BWK_ERR_CONFIG_OAUTH/);
  });

  it('retired keys must outlive tokens', () => {
    const issues = issuesOf({
      oauth: { tokenLifetime: '1h', signingKeys: { keepRetiredFor: '30m' } },
    });

    expect(issues).toEqual([
      { code: 'BWK_ERR_CONFIG_OAUTH', path: 'oauth.signingKeys.keepRetiredFor' },
    ]);
  });

  it('duplicate endpoint paths are rejected', () => {
    const issues = issuesOf({ oauth: { paths: { introspection: '/oauth/token' } } });

    expect(issues).toEqual([
      { code: 'BWK_ERR_CONFIG_DUPLICATE', path: 'oauth.paths.introspection' },
    ]);
  });

  it('endpoint under the admin prefix is rejected', () => {
    const issues = issuesOf({ oauth: { paths: { token: '/_bulwark/token' } } });

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_CONFLICT', path: 'oauth.paths.token' }]);
  });

  it.each(['oauth/token', '/oauth/to ken', '/oauth//token'])('path %j is rejected', (token) => {
    const issues = issuesOf({ oauth: { paths: { token } } });

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_VALUE', path: 'oauth.paths.token' }]);
  });

  it('issuer with a query is rejected', () => {
    const issues = issuesOf({ oauth: { issuer: 'https://api.example.com/?tenant=a' } });

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_OAUTH', path: 'oauth.issuer' }]);
  });

  it.each(['0s', '2d'])('token lifetime %s is rejected', (tokenLifetime) => {
    const issues = issuesOf({ oauth: { tokenLifetime } });

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_DURATION', path: 'oauth.tokenLifetime' }]);
  });

  it('RS256 is not a signing algorithm', () => {
    const issues = issuesOf({ oauth: { signingKeys: { algorithm: 'RS256' as 'ES256' } } });

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_VALUE', path: 'oauth.signingKeys.algorithm' }]);
  });

  it('unknown key is rejected', () => {
    const issues = issuesOf({ oauth: { lifetime: '1h' } as never });

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_UNKNOWN_KEY', path: 'oauth' }]);
  });
});
