import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';

import { validateConfig, type ConfigInput } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { Gateway } from '../../src/gateway/server.js';
import { AUDIENCE, createSigner, ISSUER } from './tokens.js';

const PEM = '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n';

function issuer(overrides: Record<string, unknown> = {}) {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['ES256'],
    jwksUri: 'http://127.0.0.1:9/jwks.json',
    ...overrides,
  };
}

function issuesOf(auth: unknown, routes: unknown[] = []): Array<{ code: string; path: string }> {
  try {
    validateConfig({ upstream: 'http://127.0.0.1:3000', auth, routes } as ConfigInput);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(({ code, path }) => ({ code, path }));
    throw error;
  }
  return [];
}

describe('auth configuration', () => {
  it('no auth section stays anonymous', () => {
    const config = validateConfig({ upstream: 'http://127.0.0.1:3000' });

    expect(config.auth.methods).toBeUndefined();
    expect(config.auth.upstreamHeaders.subject).toBe('X-Auth-Subject');
  });

  it('algorithm none is rejected', () => {
    const issues = issuesOf({ jwt: { issuers: [issuer({ algorithms: ['ES256', 'none'] })] } });

    expect(issues).toEqual([
      { code: 'BWK_ERR_CONFIG_JWT_ALGORITHM', path: 'auth.jwt.issuers.0.algorithms.1' },
    ]);
  });

  it('HS256 beside public keys is rejected', () => {
    const issues = issuesOf({ jwt: { issuers: [issuer({ algorithms: ['RS256', 'HS256'] })] } });

    expect(issues).toEqual([
      { code: 'BWK_ERR_CONFIG_JWT_ALGORITHM', path: 'auth.jwt.issuers.0.algorithms.1' },
    ]);
  });

  it('jwt method without issuers is rejected', () => {
    const issues = issuesOf({}, [{ match: 'GET /x', auth: { methods: ['jwt'] } }]);

    expect(issues).toEqual([{ code: 'BWK_ERR_CONFIG_AUTH', path: 'routes.0.auth.methods' }]);
  });

  it('two key sources are rejected', () => {
    const issues = issuesOf({ jwt: { issuers: [issuer({ jwksFile: './jwks.json' })] } });

    expect(issues.map((item) => item.code)).toEqual(['BWK_ERR_CONFIG_AUTH']);
  });

  it('scope with a quote is rejected', () => {
    const issues = issuesOf({ scopes: { all: ['a"b'] } });

    expect(issues.map((item) => item.path)).toEqual(['auth.scopes.all.0']);
  });

  it('duplicate issuer is rejected', () => {
    const issues = issuesOf({ jwt: { issuers: [issuer(), issuer()] } });

    expect(issues).toEqual([
      { code: 'BWK_ERR_CONFIG_DUPLICATE', path: 'auth.jwt.issuers.1.issuer' },
    ]);
  });

  it('invalid PEM stops the gateway start', () => {
    const config = validateConfig({
      upstream: 'http://127.0.0.1:3000',
      events: { sink: 'none' },
      auth: {
        methods: ['jwt'],
        jwt: {
          issuers: [issuer({ jwksUri: undefined, publicKeys: [{ pem: PEM, alg: 'ES256' }] })],
        },
      },
    });

    expect(() => new Gateway(config)).toThrow(
      /BWK_ERR_CONFIG_AUTH at auth\.jwt\.issuers\.0\.publicKeys\.0/,
    );
  });

  it('private JWK in JWKS file is rejected', async () => {
    const signer = await createSigner('ES256', 'k1');
    const file = join(mkdtempSync(join(tmpdir(), 'bwk-jwks-')), 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [await exportJWK(signer.privateKey)] }));
    const config = validateConfig({
      upstream: 'http://127.0.0.1:3000',
      events: { sink: 'none' },
      auth: {
        methods: ['jwt'],
        jwt: { issuers: [issuer({ jwksUri: undefined, jwksFile: file })] },
      },
    });

    expect(() => new Gateway(config)).toThrow(/public keys only/);
  });
});
