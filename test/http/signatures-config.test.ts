import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { validatePolicy } from '../../src/core/config.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';
import { loadVerificationKeys } from '../../src/http/signature-key-loader.js';
import { compileSignaturePolicies } from '../../src/http/signature-policy.js';

const dir = mkdtempSync(join(tmpdir(), 'bwk-sig-config-'));
const hmacKey = { id: 'k1', algorithm: 'hmac-sha256', secretEnv: 'SIG_K1' };

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(input: Record<string, unknown>): Array<Pick<ConfigIssue, 'code' | 'path'>> {
  try {
    validatePolicy(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(({ code, path }) => ({ code, path }));
    throw error;
  }
  return [];
}

function loadIssues(keys: unknown[], env: NodeJS.ProcessEnv = {}): ConfigIssue[] {
  const config = validatePolicy({ signatures: { keys } });
  try {
    loadVerificationKeys(config.signatures.keys, env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  return [];
}

describe('signatures configuration', () => {
  it('defaults leave signatures off', () => {
    const config = validatePolicy({});
    expect(config.signatures).toMatchObject({
      required: false,
      components: ['@method', '@target-uri'],
      clockSkew: 30_000,
      maxAge: 300_000,
      digestAlgorithms: ['sha-256', 'sha-512'],
    });
    expect(compileSignaturePolicies(config).anyRequired).toBe(false);
  });

  it('route components add to the global ones', () => {
    const config = validatePolicy({
      signatures: { keys: [hmacKey], components: ['@method', '@target-uri', 'date'] },
      routes: [
        {
          match: 'POST /orders',
          signatures: { required: true, components: ['content-type'], keys: ['k1'] },
        },
      ],
    });
    const policies = compileSignaturePolicies(config);
    expect(policies.anyRequired).toBe(true);
    expect(policies.byRoute.get('POST /orders')).toEqual({
      required: true,
      components: ['@method', '@target-uri', 'date', 'content-type'],
      keys: new Set(['k1']),
      tag: undefined,
    });
  });

  it('rejects components without the minimum', () => {
    expect(issuesOf({ signatures: { components: ['@method', '@path'] } })).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'signatures.components',
    });
  });

  it('rejects unsupported components', () => {
    const issues = issuesOf({
      signatures: { components: ['@method', '@target-uri', '@query-param', 'Content-Type'] },
    });
    expect(issues).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'signatures.components.2',
    });
    expect(issues).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'signatures.components.3',
    });
  });

  it('rejects duplicate key ids and unknown route keys', () => {
    const issues = issuesOf({
      signatures: { keys: [hmacKey, hmacKey] },
      routes: [{ match: 'GET /a', signatures: { required: true, keys: ['k2'] } }],
    });
    expect(issues).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'signatures.keys.1.id',
    });
    expect(issues).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'routes.0.signatures.keys.0',
    });
  });

  it('rejects required signatures without keys', () => {
    expect(issuesOf({ signatures: { required: true } })).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'signatures.required',
    });
    expect(
      issuesOf({ routes: [{ match: 'GET /a', signatures: { required: true } }] }),
    ).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'routes.0.signatures.required',
    });
  });

  it('rejects keys with the wrong material', () => {
    const issues = issuesOf({
      signatures: {
        keys: [
          { id: 'a', algorithm: 'hmac-sha256', secretEnv: 'A', publicKey: 'x' },
          { id: 'b', algorithm: 'ed25519', secretFile: '/run/secrets/b' },
          { id: 'c', algorithm: 'ed25519', jwk: { kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'd' } },
          { id: 'd', algorithm: 'rsa-pss-sha512', publicKey: 'x' },
        ],
      },
    });
    expect(issues).toContainEqual({ code: 'BWK_ERR_CONFIG_SIGNATURES', path: 'signatures.keys.0' });
    expect(issues).toContainEqual({ code: 'BWK_ERR_CONFIG_SIGNATURES', path: 'signatures.keys.1' });
    expect(issues).toContainEqual({ code: 'BWK_ERR_CONFIG_SIGNATURES', path: 'signatures.keys.2' });
    expect(issues).toContainEqual({
      code: 'BWK_ERR_CONFIG_VALUE',
      path: 'signatures.keys.3.algorithm',
    });
  });

  it('rejects an origin with a path and a redis nonce store without redis', () => {
    const issues = issuesOf({
      signatures: { origin: 'https://api.example.com/v1', nonces: { store: 'redis' } },
    });
    expect(issues).toContainEqual({ code: 'BWK_ERR_CONFIG_SIGNATURES', path: 'signatures.origin' });
    expect(issues).toContainEqual({
      code: 'BWK_ERR_CONFIG_SIGNATURES',
      path: 'signatures.nonces.store',
    });
  });

  it('takes the origin as scheme and authority', () => {
    const config = validatePolicy({ signatures: { origin: 'https://API.example.com:443' } });
    expect(compileSignaturePolicies(config).origin).toEqual({
      scheme: 'https',
      authority: 'api.example.com',
    });
  });
});

describe('signature key loading', () => {
  it('reads secrets and public keys from every source', () => {
    const secret = randomBytes(32);
    const secretFile = join(dir, 'k2.secret');
    writeFileSync(secretFile, `${secret.toString('hex')}\n`);
    const pair = generateKeyPairSync('ed25519');
    const pemFile = join(dir, 'partner.pem');
    writeFileSync(pemFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const jwkFile = join(dir, 'partner.jwk');
    writeFileSync(jwkFile, JSON.stringify(pair.publicKey.export({ format: 'jwk' })));

    const config = validatePolicy({
      signatures: {
        keys: [
          hmacKey,
          { id: 'k2', algorithm: 'hmac-sha256', secretFile, encoding: 'hex' },
          { id: 'p1', algorithm: 'ed25519', publicKeyFile: pemFile },
          { id: 'p2', algorithm: 'ed25519', publicKeyFile: jwkFile },
          { id: 'p3', algorithm: 'ed25519', jwk: pair.publicKey.export({ format: 'jwk' }) },
        ],
      },
    });
    const keys = loadVerificationKeys(config.signatures.keys, {
      SIG_K1: randomBytes(48).toString('base64'),
    });
    expect([...keys.keys()]).toEqual(['k1', 'k2', 'p1', 'p2', 'p3']);
  });

  it('names each key that cannot be read, never the secret', () => {
    const short = randomBytes(16).toString('base64');
    const issues = loadIssues(
      [
        hmacKey,
        { id: 'short', algorithm: 'hmac-sha256', secretEnv: 'SHORT' },
        { id: 'bad', algorithm: 'hmac-sha256', secretEnv: 'BAD', encoding: 'hex' },
        { id: 'gone', algorithm: 'ed25519', publicKeyFile: join(dir, 'missing.pem') },
      ],
      { SHORT: short, BAD: 'not hex at all' },
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'signatures.keys.0.secretEnv',
      'signatures.keys.1.secretEnv',
      'signatures.keys.2.secretEnv',
      'signatures.keys.3.publicKeyFile',
    ]);
    expect(issues[0]!.message).toContain('environment variable SIG_K1 is not set');
    expect(issues[1]!.message).toContain('16 bytes');
    expect(issues[2]!.message).toContain('not valid hex');
    expect(issues[3]!.message).toContain('file not found');
    expect(JSON.stringify(issues)).not.toContain(short);
    for (const issue of issues) expect(issue.code).toBe('BWK_ERR_CONFIG_SIGNATURES');
  });

  it('refuses a private key in a public key file', () => {
    const pair = generateKeyPairSync('ed25519');
    const file = join(dir, 'private.pem');
    writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const issues = loadIssues([{ id: 'p', algorithm: 'ed25519', publicKeyFile: file }]);
    expect(issues[0]!.message).toContain('private key');
  });
});
