import { randomBytes } from 'node:crypto';

import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RevokedTokenStore } from '../../src/auth/client-store.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { json, send, type Reply } from '../helpers/http.js';
import {
  bearer,
  decodeToken,
  fetchToken,
  startOAuthGateway,
  type OAuthGateway,
} from './oauth-harness.js';
import { AUDIENCE, createSigner, ISSUER, sign, type Signer } from './tokens.js';

let env: OAuthGateway;
let url: string;
let signer: Signer;
let apiKey: string;
const clients = {
  reader: { id: '', secret: '' },
  pro: { id: '', secret: '' },
};

beforeAll(async () => {
  signer = await createSigner('ES256', 'ext-1');
  env = await startOAuthGateway({
    auth: {
      methods: ['oauth'],
      jwt: {
        issuers: [
          {
            issuer: ISSUER,
            audience: AUDIENCE,
            algorithms: ['ES256'],
            publicKeys: [{ pem: signer.publicPem, alg: 'ES256', kid: 'ext-1' }],
          },
        ],
      },
    },
    routes: [
      { match: 'GET /orders', auth: { scopes: { all: ['orders:read'] } } },
      { match: 'POST /orders', auth: { scopes: { all: ['orders:write'] } } },
      { match: 'GET /either', auth: { methods: ['jwt', 'oauth'] } },
      { match: 'GET /keys-or-tokens', auth: { methods: ['apiKey', 'oauth'] } },
      { match: 'GET /public', auth: { methods: ['oauth', 'anonymous'] } },
      {
        match: 'GET /limited',
        rateLimits: [
          { name: 'per-client', key: 'client', limit: 2, window: '1m', tiers: { pro: 3 } },
        ],
      },
    ],
  });
  url = env.gateway.url;
  for (const [name, plan] of [
    ['reader', 'free'],
    ['pro', 'pro'],
  ] as const) {
    const issued = await env.stores.clients.create({
      name,
      owner: 'team-a',
      scopes: ['orders:read'],
      plan,
    });
    clients[name] = { id: issued.clientId, secret: issued.clientSecret };
  }
  apiKey = (await env.stores.apiKeys.create({ env: 'test', name: 'k', owner: 'team-a' })).key;
});

afterAll(async () => {
  await env.stop();
});

function tokenFor(name: keyof typeof clients, scope?: string): Promise<string> {
  return fetchToken(url, clients[name].id, clients[name].secret, scope);
}

function call(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return send(url, path, { method, headers });
}

function expectInvalidToken(reply: Reply, reason: string): void {
  expect(reply.status).toBe(401);
  expect(reply.headers['content-type']).toBe('application/problem+json');
  expect(reply.headers['www-authenticate']).toMatch(
    /^Bearer error="invalid_token", error_description="[^"]+"$/,
  );
  const body = json(reply);
  expect(body.code).toBe('BWK_ERR_AUTH_INVALID_TOKEN');
  expect(body.reason).toBe(reason);
}

/** Signs a token with the gateway's current private key, with claims a test chooses. */
async function signWithGatewayKey(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = env.gateway.oauth!.keys.signingKey();
  const now = Math.floor(env.clock.now() / 1000);
  return new SignJWT({ client_id: clients.reader.id, scope: 'orders:read', ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
    .setIssuer(url)
    .setAudience(url)
    .setSubject(clients.reader.id)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .setJti('test-jti')
    .sign(key.privateKey);
}

describe('oauth guard', () => {
  it('token opens a scoped route', async () => {
    const forged = { 'x-auth-subject': 'admin', 'x-auth-type': 'user' };

    const reply = await call('/orders', { ...bearer(await tokenFor('reader')), ...forged });

    expect(reply.status).toBe(200);
    const received = json(reply);
    expect(received['x-auth-type']).toBe('client');
    expect(received['x-auth-subject']).toBe(clients.reader.id);
    expect(received['x-auth-scopes']).toBe('orders:read');
  });

  it('missing scope is 403', async () => {
    const reply = await call('/orders', bearer(await tokenFor('reader')), 'POST');

    expect(reply.status).toBe(403);
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_scope", scope="orders:write"',
    );
    expect(json(reply).code).toBe('BWK_ERR_AUTH_INSUFFICIENT_SCOPE');
  });

  it('missing token is 401', async () => {
    const reply = await call('/orders');

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer');
    expect(json(reply).code).toBe('BWK_ERR_AUTH_REQUIRED');
  });

  it('malformed header is 400', async () => {
    const reply = await call('/orders', { authorization: 'Bearer a b' });

    expect(reply.status).toBe(400);
    expect(json(reply).code).toBe('BWK_ERR_AUTH_MALFORMED');
  });

  it('expired token is rejected', async () => {
    const token = await tokenFor('reader');
    const start = env.clock.now();
    // One hour of lifetime plus the 30 s clock tolerance, plus one second.
    env.clock.advance(3_600_000 + 31_000);
    try {
      expectInvalidToken(await call('/orders', bearer(token)), 'expired');
    } finally {
      env.clock.set(start);
    }
  });

  it('token of another issuer is rejected', async () => {
    const token = await sign(signer, { sub: clients.reader.id, client_id: clients.reader.id });

    expectInvalidToken(await call('/orders', bearer(token)), 'untrusted_issuer');
  });

  it('token signed by a foreign key is rejected', async () => {
    const { privateKey } = await generateKeyPair('EdDSA');
    const kid = env.gateway.oauth!.keys.signingKey().kid;
    const now = Math.floor(env.clock.now() / 1000);
    const forged = await new SignJWT({ client_id: clients.reader.id, scope: 'orders:read' })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setIssuer(url)
      .setAudience(url)
      .setSubject(clients.reader.id)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti('forged')
      .sign(privateKey);

    expectInvalidToken(await call('/orders', bearer(forged)), 'bad_signature');
  });

  it('unknown kid is rejected', async () => {
    const token = await signWithGatewayKey({}, { kid: 'A'.repeat(43) });

    expectInvalidToken(await call('/orders', bearer(token)), 'unknown_key');
  });

  it('unsigned token is rejected', async () => {
    const [, payload] = (await tokenFor('reader')).split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString(
      'base64url',
    );

    const reply = await call('/orders', bearer(`${header}.${payload}.`));

    expectInvalidToken(reply, 'algorithm_not_allowed');
  });

  it('token without at+jwt type is rejected', async () => {
    const token = await signWithGatewayKey({}, { typ: 'JWT' });

    expectInvalidToken(await call('/orders', bearer(token)), 'wrong_type');
  });

  it('token for another audience is rejected', async () => {
    const key = env.gateway.oauth!.keys.signingKey();
    const now = Math.floor(env.clock.now() / 1000);
    const token = await new SignJWT({ client_id: clients.reader.id })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(url)
      .setAudience('https://elsewhere.test')
      .setSubject(clients.reader.id)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti('aud-test')
      .sign(key.privateKey);

    expectInvalidToken(await call('/orders', bearer(token)), 'wrong_audience');
  });

  it('token without jti is rejected', async () => {
    const key = env.gateway.oauth!.keys.signingKey();
    const now = Math.floor(env.clock.now() / 1000);
    const token = await new SignJWT({ client_id: clients.reader.id })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(url)
      .setAudience(url)
      .setSubject(clients.reader.id)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key.privateKey);

    expectInvalidToken(await call('/orders', bearer(token)), 'missing_claim');
  });

  it('failures publish auth.failure without the token', async () => {
    const token = await signWithGatewayKey({}, { typ: 'JWT' });
    const before = env.events.length;

    await call('/orders', bearer(token));

    const [event] = env.events.slice(before);
    expect(event?.type).toBe('auth.failure');
    expect(event?.details).toMatchObject({ reason: 'wrong_type', method: 'oauth' });
    expect(JSON.stringify(event)).not.toContain(token.split('.')[2]);
  });
});

describe('oauth beside other methods', () => {
  it('jwt and oauth route picks by issuer', async () => {
    const own = await call('/either', bearer(await tokenFor('reader')));
    const external = await call('/either', bearer(await sign(signer, { sub: 'alice' })));

    expect(own.status).toBe(200);
    expect(json(own)['x-auth-subject']).toBe(clients.reader.id);
    expect(json(own)['x-auth-type']).toBe('client');
    expect(external.status).toBe(200);
    expect(json(external)['x-auth-subject']).toBe('alice');
    expect(json(external)['x-auth-type']).toBe('user');
  });

  it('own token failure is not retried as jwt', async () => {
    const token = await signWithGatewayKey({}, { typ: 'JWT' });

    expectInvalidToken(await call('/either', bearer(token)), 'wrong_type');
  });

  it('api key and oauth route takes either', async () => {
    const withKey = await call('/keys-or-tokens', bearer(apiKey));
    const withToken = await call('/keys-or-tokens', bearer(await tokenFor('reader')));

    expect(json(withKey)['x-auth-type']).toBe('api_key');
    expect(json(withToken)['x-auth-type']).toBe('client');
  });

  it('api key and oauth route requires one, and says which', async () => {
    const reply = await call('/keys-or-tokens');

    expect(reply.status).toBe(401);
    expect(json(reply).detail).toMatch(/API key .* or an OAuth access token/);
  });

  it('api key on a token-only route is named as such', async () => {
    expectInvalidToken(await call('/orders', bearer(apiKey)), 'api_key_not_accepted');
  });

  it('anonymous route checks a sent token', async () => {
    expect((await call('/public')).status).toBe(200);
    expectInvalidToken(await call('/public', bearer('abc.def.ghi')), 'malformed');
  });
});

describe('rate limits keyed on oauth clients', () => {
  async function statuses(token: string, count: number): Promise<number[]> {
    const result: number[] = [];
    for (let index = 0; index < count; index++)
      result.push((await call('/limited', bearer(token))).status);
    return result;
  }

  it('client limit counts across tokens', async () => {
    const first = await tokenFor('reader');
    const second = await tokenFor('reader');

    expect(decodeToken(first).claims.jti).not.toBe(decodeToken(second).claims.jti);
    expect(await statuses(first, 2)).toEqual([200, 200]);
    expect(await statuses(second, 1)).toEqual([429]);
  });

  it('client plan selects the tier', async () => {
    expect(await statuses(await tokenFor('pro'), 4)).toEqual([200, 200, 200, 429]);
  });
});

describe('credential store outage', () => {
  it('revocation lookup failure is 503', async () => {
    const pepper = randomBytes(32).toString('base64');
    const memory = createMemoryCredentialStores({ pepper });
    const down: RevokedTokenStore = {
      revokeToken: () => Promise.reject(new StoreUnavailableError('store down')),
      isTokenRevoked: () => Promise.reject(new StoreUnavailableError('store down')),
      purgeRevokedTokens: () => Promise.reject(new StoreUnavailableError('store down')),
    };
    const outage = await startOAuthGateway(
      { auth: { methods: ['oauth'] } },
      { stores: { ...memory, revokedTokens: down }, pepper },
    );
    try {
      const { clientId, clientSecret } = await memory.clients.create({ name: 'c', owner: 't' });
      const token = await fetchToken(outage.gateway.url, clientId, clientSecret);

      const reply = await send(outage.gateway.url, '/orders', { headers: bearer(token) });

      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('5');
      expect(json(reply).code).toBe('BWK_ERR_AUTH_STORE_UNAVAILABLE');
    } finally {
      await outage.stop();
    }
  });
});
