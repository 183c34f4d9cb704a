import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BulwarkError } from '../../src/core/errors.js';
import { ManualClock } from '../../src/core/clock.js';
import type { ConfigInput } from '../../src/core/config.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { json, send, type Reply } from '../helpers/http.js';
import {
  basic,
  bearer,
  decodeToken,
  fetchToken,
  postForm,
  startOAuthGateway,
  type OAuthGateway,
} from './oauth-harness.js';

const HOUR = 3_600_000;
const ROUTES = [{ match: 'GET /orders', auth: { scopes: { all: ['orders:read'] } } }];

let env: OAuthGateway;
let url: string;
const clients = { a: { id: '', secret: '' }, b: { id: '', secret: '' } };

beforeAll(async () => {
  env = await startOAuthGateway({ auth: { methods: ['oauth'] }, routes: ROUTES });
  url = env.gateway.url;
  for (const name of ['a', 'b'] as const) {
    const issued = await env.stores.clients.create({
      name,
      owner: 'team',
      scopes: ['orders:read'],
    });
    clients[name] = { id: issued.clientId, secret: issued.clientSecret };
  }
});

afterAll(async () => {
  await env.stop();
});

function as(name: keyof typeof clients): Record<string, string> {
  return { authorization: basic(clients[name].id, clients[name].secret) };
}

function tokenFor(name: keyof typeof clients): Promise<string> {
  return fetchToken(url, clients[name].id, clients[name].secret);
}

function introspect(token: string, headers = as('a')): Promise<Reply> {
  return postForm(url, '/oauth/introspect', { token }, headers);
}

function revoke(token: string, headers = as('a'), hint?: string): Promise<Reply> {
  const form: Record<string, string> = { token };
  if (hint !== undefined) form.token_type_hint = hint;
  return postForm(url, '/oauth/revoke', form, headers);
}

describe('introspection', () => {
  it('own token is active', async () => {
    const token = await tokenFor('a');
    const { claims } = decodeToken(token);

    const reply = await introspect(token);

    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(json(reply)).toEqual({
      active: true,
      client_id: clients.a.id,
      token_type: 'Bearer',
      scope: 'orders:read',
      exp: claims.exp,
      iat: claims.iat,
      sub: clients.a.id,
      aud: url,
      iss: url,
      jti: claims.jti,
    });
  });

  it.each([
    ['garbage', () => Promise.resolve('not-a-token')],
    ['another client', () => tokenFor('b')],
    ['an API key', () => Promise.resolve('bwk_test_abc')],
  ])('token of %s is inactive', async (_name, token) => {
    const reply = await introspect(await token());

    expect(reply.status).toBe(200);
    expect(json(reply)).toEqual({ active: false });
  });

  it('expired token is inactive', async () => {
    const token = await tokenFor('a');
    const start = env.clock.now();
    env.clock.advance(HOUR + 31_000);
    try {
      expect(json(await introspect(token))).toEqual({ active: false });
    } finally {
      env.clock.set(start);
    }
  });

  it('missing token is invalid_request', async () => {
    const reply = await postForm(url, '/oauth/introspect', {}, as('a'));

    expect(reply.status).toBe(400);
    expect(json(reply).error).toBe('invalid_request');
  });

  it('caller must authenticate', async () => {
    const reply = await introspect(await tokenFor('a'), {
      authorization: basic(clients.a.id, 'wrong'),
    });

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(json(reply).error).toBe('invalid_client');
  });
});

describe('revocation', () => {
  it('revoked token is rejected', async () => {
    const token = await tokenFor('a');
    expect((await send(url, '/orders', { headers: bearer(token) })).status).toBe(200);

    const reply = await revoke(token);

    expect(reply.status).toBe(200);
    expect(reply.text).toBe('');
    expect(reply.headers['cache-control']).toBe('no-store');
    const after = await send(url, '/orders', { headers: bearer(token) });
    expect(after.status).toBe(401);
    expect(json(after).reason).toBe('revoked');
    expect(json(await introspect(token))).toEqual({ active: false });
  });

  it('revocation is stored until expiry', async () => {
    const token = await tokenFor('a');
    const { jti } = decodeToken(token).claims;

    await revoke(token, as('a'), 'access_token');

    expect(await env.stores.revokedTokens.isTokenRevoked(jti!)).toBe(true);
  });

  it('revocation publishes credential.revoked', async () => {
    const token = await tokenFor('a');
    const before = env.events.length;

    await revoke(token);

    const event = env.events.slice(before).find((item) => item.type === 'credential.revoked');
    expect(event?.actor).toMatchObject({ type: 'client', id: clients.a.id });
    expect(event?.target.resourceId).toBe(decodeToken(token).claims.jti);
    expect(JSON.stringify(event)).not.toContain(token.split('.')[2]);
  });

  it('other tokens stay valid', async () => {
    const kept = await tokenFor('a');

    await revoke(await tokenFor('a'));

    expect((await send(url, '/orders', { headers: bearer(kept) })).status).toBe(200);
  });

  it.each([
    ['unknown token', 'eyJhbGciOiJub25lIn0.e30.'],
    ['garbage', 'garbage'],
  ])('%s is 200', async (_name, token) => {
    expect((await revoke(token, as('a'), 'refresh_token')).status).toBe(200);
  });

  it('revoking twice is 200', async () => {
    const token = await tokenFor('a');

    expect((await revoke(token)).status).toBe(200);
    expect((await revoke(token)).status).toBe(200);
  });

  it("another client's token is unauthorized_client", async () => {
    const token = await tokenFor('b');

    const reply = await revoke(token, as('a'));

    expect(reply.status).toBe(400);
    expect(json(reply).error).toBe('unauthorized_client');
    expect((await send(url, '/orders', { headers: bearer(token) })).status).toBe(200);
  });

  it('API key is unsupported_token_type', async () => {
    const { key } = await env.stores.apiKeys.create({ env: 'test', name: 'k', owner: 'team' });

    const reply = await revoke(key);

    expect(reply.status).toBe(400);
    expect(json(reply).error).toBe('unsupported_token_type');
  });

  it('caller must authenticate', async () => {
    const reply = await revoke(await tokenFor('a'), {});

    expect(reply.status).toBe(401);
    expect(json(reply).error).toBe('invalid_client');
  });
});

describe('client secret rotation', () => {
  it('old secret works during the grace period only', async () => {
    const { clientId, clientSecret: old } = await env.stores.clients.create({
      name: 'rotating',
      owner: 'team',
      scopes: ['orders:read'],
    });
    const start = env.clock.now();
    const { clientSecret: fresh } = await env.stores.clients.rotateSecret(clientId, HOUR);
    try {
      expect(await fetchToken(url, clientId, old)).toBeTruthy();
      expect(await fetchToken(url, clientId, fresh)).toBeTruthy();

      env.clock.advance(HOUR);
      const before = env.events.length;
      const reply = await postForm(
        url,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization: basic(clientId, old) },
      );

      expect(reply.status).toBe(401);
      expect(json(reply).error).toBe('invalid_client');
      expect(env.events.slice(before)[0]?.details.reason).toBe('secret_expired');
      expect(await fetchToken(url, clientId, fresh)).toBeTruthy();
    } finally {
      env.clock.set(start);
    }
  });
});

describe('signing keys', () => {
  async function jwksKids(gatewayUrl: string): Promise<string[]> {
    const reply = await send(gatewayUrl, '/.well-known/jwks.json');
    return json<{ keys: { kid: string }[] }>(reply).keys.map((key) => key.kid);
  }

  it('rotation keeps old tokens valid until expiry', async () => {
    const own = await startOAuthGateway({ auth: { methods: ['oauth'] }, routes: ROUTES });
    try {
      const { clientId, clientSecret } = await own.stores.clients.create({
        name: 'c',
        owner: 't',
        scopes: ['orders:read'],
      });
      const ownUrl = own.gateway.url;
      const oldToken = await fetchToken(ownUrl, clientId, clientSecret);
      const oldKid = decodeToken(oldToken).header.kid;

      const newKid = await own.gateway.oauth!.rotateSigningKey();
      const newToken = await fetchToken(ownUrl, clientId, clientSecret);

      expect(decodeToken(newToken).header.kid).toBe(newKid);
      expect(newKid).not.toBe(oldKid);
      expect((await jwksKids(ownUrl)).sort()).toEqual([oldKid, newKid].sort());
      for (const token of [oldToken, newToken])
        expect((await send(ownUrl, '/orders', { headers: bearer(token) })).status).toBe(200);

      // Past the token lifetime and clock tolerance, the retired key leaves the JWKS.
      own.clock.advance(HOUR + 30_000);
      await own.gateway.oauth!.keys.maintain();

      expect(await jwksKids(ownUrl)).toEqual([newKid]);
      const stale = await send(ownUrl, '/orders', { headers: bearer(oldToken) });
      expect(stale.status).toBe(401);
    } finally {
      await own.stop();
    }
  });

  it('key older than rotateEvery is replaced', async () => {
    const own = await startOAuthGateway({
      oauth: { signingKeys: { rotateEvery: '1d' } },
    });
    try {
      const [first] = await jwksKids(own.gateway.url);

      own.clock.advance(24 * HOUR);
      await own.gateway.oauth!.keys.maintain();

      const kids = await jwksKids(own.gateway.url);
      expect(kids).toHaveLength(2);
      expect(kids).toContain(first);
      expect(own.gateway.oauth!.keys.signingKey().kid).not.toBe(first);
    } finally {
      await own.stop();
    }
  });

  it('private keys are encrypted at rest', async () => {
    const [record] = await env.stores.signingKeys.listSigningKeys();

    expect(record?.privateKey).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(record?.privateKey).not.toContain('"d"');
    expect(JSON.parse(record!.publicJwk)).not.toHaveProperty('d');
  });

  it('another pepper cannot use the stored key', async () => {
    process.env.BWK_TEST_OTHER_PEPPER = randomBytes(32).toString('base64');
    const other = new (await import('../../src/gateway/server.js')).Gateway(
      (await import('../../src/core/config.js')).validateConfig({
        upstream: 'http://127.0.0.1:9',
        listen: { host: '127.0.0.1', port: 0 },
        events: { sink: 'none' },
        logging: { level: 'silent' },
        auth: { apiKeys: { pepperEnv: 'BWK_TEST_OTHER_PEPPER' } },
        oauth: {},
      }),
      { credentials: env.stores },
    );
    try {
      const error = await other.listen().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(BulwarkError);
      expect((error as BulwarkError).code).toBe('BWK_ERR_OAUTH_SIGNING_KEY');
    } finally {
      await other.stop();
      delete process.env.BWK_TEST_OTHER_PEPPER;
    }
  });

  it('ES256 signs when configured', async () => {
    const own = await startOAuthGateway({ oauth: { signingKeys: { algorithm: 'ES256' } } });
    try {
      const { clientId, clientSecret } = await own.stores.clients.create({ name: 'c', owner: 't' });
      const token = await fetchToken(own.gateway.url, clientId, clientSecret);

      expect(decodeToken(token).header.alg).toBe('ES256');
      const reply = await send(own.gateway.url, '/.well-known/jwks.json');
      expect(json<{ keys: object[] }>(reply).keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    } finally {
      await own.stop();
    }
  });
});

describe('two instances on one store', () => {
  interface Instances {
    first: OAuthGateway;
    second: OAuthGateway;
    client: { clientId: string; clientSecret: string };
    stop(): Promise<void>;
  }

  /** Starts two gateways on one memory store, as two instances of one deployment, and a client. */
  async function startInstances(extra: Partial<ConfigInput> = {}): Promise<Instances> {
    const pepper = randomBytes(32).toString('base64');
    const clock = new ManualClock(Date.now());
    const stores = createMemoryCredentialStores({ pepper, clock });
    const input = {
      auth: { methods: ['oauth' as const] },
      routes: ROUTES,
      oauth: { issuer: 'https://api.test' },
      ...extra,
    };
    const first = await startOAuthGateway(input, { stores, clock, pepper });
    const second = await startOAuthGateway(input, { stores, clock, pepper });
    const client = await stores.clients.create({
      name: 'c',
      owner: 't',
      scopes: ['orders:read'],
    });
    return {
      first,
      second,
      client,
      stop: async () => {
        await first.stop();
        await second.stop();
      },
    };
  }

  function orders(instance: OAuthGateway, token: string): Promise<Reply> {
    return send(instance.gateway.url, '/orders', { headers: bearer(token) });
  }

  function tokenFrom(instance: OAuthGateway, client: Instances['client']): Promise<string> {
    return fetchToken(instance.gateway.url, client.clientId, client.clientSecret);
  }

  function revokeAt(
    instance: OAuthGateway,
    token: string,
    client: Instances['client'],
  ): Promise<Reply> {
    const authorization = basic(client.clientId, client.clientSecret);
    return postForm(instance.gateway.url, '/oauth/revoke', { token }, { authorization });
  }

  it('second instance loads a new key on its kid', async () => {
    const { first, second, client, stop } = await startInstances();
    try {
      expect(second.gateway.oauth!.keys.signingKey().kid).toBe(
        first.gateway.oauth!.keys.signingKey().kid,
      );

      await first.gateway.oauth!.rotateSigningKey();
      const token = await tokenFrom(first, client);
      const reply = await orders(second, token);

      expect(reply.status).toBe(200);
      expect(second.gateway.oauth!.keys.signingKey().kid).toBe(decodeToken(token).header.kid);
    } finally {
      await stop();
    }
  });

  it('revocation on one instance holds on the other', async () => {
    const { first, second, client, stop } = await startInstances();
    try {
      const token = await tokenFrom(first, client);

      await revokeAt(first, token, client);

      const reply = await orders(second, token);
      expect(reply.status).toBe(401);
      expect(json(reply).reason).toBe('revoked');
    } finally {
      await stop();
    }
  });

  it('revocation notice reaches a cached instance', async () => {
    const keyPrefix = `bwk_test_oauth_${randomBytes(4).toString('hex')}:`;
    const { first, second, client, stop } = await startInstances({
      storage: { redis: 'redis://127.0.0.1:6379', keyPrefix },
    });
    const heard: string[] = [];
    second.gateway.onCredentialChange((change) => heard.push(change.id));
    try {
      await untilHeard(heard, 'probe', () =>
        first.gateway.notifyCredentialChange({ kind: 'token', id: 'probe' }),
      );
      const token = await tokenFrom(first, client);
      // The second instance now caches "not revoked" for this token.
      expect((await orders(second, token)).status).toBe(200);

      await revokeAt(first, token, client);
      await untilHeard(heard, decodeToken(token).claims.jti!);

      const reply = await orders(second, token);
      expect(reply.status).toBe(401);
      expect(json(reply).reason).toBe('revoked');
    } finally {
      await stop();
    }
  });
});

/** Waits until `heard` contains `id`, calling `send` again every 50 ms until then. */
async function untilHeard(heard: string[], id: string, send?: () => Promise<void>): Promise<void> {
  for (let attempt = 0; attempt < 100 && !heard.includes(id); attempt++) {
    await send?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!heard.includes(id)) throw new Error(`no credential notice for ${id} within 5 s`);
}
