import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ApiKeyHasher } from '../../src/auth/api-key-store.js';
import type { ClientRecord, ClientStore } from '../../src/auth/client-store.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { ManualClock } from '../../src/core/clock.js';
import { json, send, type Reply } from '../helpers/http.js';
import {
  basic,
  decodeToken,
  FORM,
  postForm,
  startOAuthGateway,
  type OAuthGateway,
} from './oauth-harness.js';

// A client whose id and secret contain characters that form-urlencoding changes: ':' would
// split the Basic credentials, '+' would become a space, '%' starts an escape.
const SPECIAL_ID = 'svc:east/β 1+1%';
const SPECIAL_SECRET = 's3cr:t+/ %&=é';

/** The memory client store plus one client with a hand-picked id and secret. */
class StoreWithSpecialClient implements ClientStore {
  constructor(
    private readonly inner: ClientStore,
    private readonly special: ClientRecord,
  ) {}

  create = (input: Parameters<ClientStore['create']>[0]) => this.inner.create(input);
  listClients = (filter?: { owner?: string }) => this.inner.listClients(filter);
  rotateSecret = (id: string, graceMs: number) => this.inner.rotateSecret(id, graceMs);
  deleteClient = (id: string) => this.inner.deleteClient(id);

  findClient(id: string): Promise<ClientRecord | undefined> {
    if (id === this.special.id) return Promise.resolve(structuredClone(this.special));
    return this.inner.findClient(id);
  }
}

let env: OAuthGateway;
let client: { id: string; secret: string };
let url: string;

beforeAll(async () => {
  const pepper = randomBytes(32).toString('base64');
  const clock = new ManualClock(Date.now());
  const memory = createMemoryCredentialStores({ pepper, clock });
  const special: ClientRecord = {
    id: SPECIAL_ID,
    name: 'special',
    owner: 'team-a',
    scopes: ['orders:read'],
    createdAt: clock.now(),
    secrets: [{ id: 'sp1', hash: new ApiKeyHasher(pepper).hash(SPECIAL_SECRET), createdAt: 0 }],
  };
  const stores = { ...memory, clients: new StoreWithSpecialClient(memory.clients, special) };
  env = await startOAuthGateway(
    {
      auth: { methods: ['oauth'] },
      routes: [{ match: 'GET /orders', auth: { scopes: { all: ['orders:read'] } } }],
    },
    { stores, clock, pepper },
  );
  url = env.gateway.url;
  const issued = await stores.clients.create({
    name: 'billing',
    owner: 'team-a',
    scopes: ['orders:read', 'orders:write'],
    plan: 'pro',
  });
  client = { id: issued.clientId, secret: issued.clientSecret };
});

afterAll(async () => {
  await env.stop();
});

function tokenRequest(
  form: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return postForm(url, '/oauth/token', form, headers);
}

function clientBasic(): Record<string, string> {
  return { authorization: basic(client.id, client.secret) };
}

const GRANT = { grant_type: 'client_credentials' };

/** Checks the RFC 6749 section 5.2 error format: status, JSON body with two fields, no-store. */
function expectOAuthError(reply: Reply, status: number, error: string): void {
  expect(reply.status).toBe(status);
  expect(reply.headers['content-type']).toBe('application/json');
  expect(reply.headers['cache-control']).toBe('no-store');
  expect(reply.headers.pragma).toBe('no-cache');
  const body = json(reply);
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  // RFC 6749 section 5.2: error_description is printable ASCII without " and \.
  expect(body.error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/);
}

function expectInvalidClient(reply: Reply): void {
  expectOAuthError(reply, 401, 'invalid_client');
  expect(reply.headers['www-authenticate']).toBe('Basic realm="oauth", charset="UTF-8"');
}

describe('token endpoint success', () => {
  it('basic credentials issue a token', async () => {
    const reply = await tokenRequest({ ...GRANT, scope: 'orders:read' }, clientBasic());

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers.pragma).toBe('no-cache');
    const body = json(reply);
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    expect(body.scope).toBe('orders:read');
  });

  it('token follows the RFC 9068 profile', async () => {
    const reply = await tokenRequest({ ...GRANT, scope: 'orders:read' }, clientBasic());
    const { header, claims } = decodeToken(json(reply).access_token as string);

    expect(header.typ).toBe('at+jwt');
    expect(header.alg).toBe('EdDSA');
    expect(header.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(claims.iss).toBe(url);
    expect(claims.aud).toBe(url);
    expect(claims.sub).toBe(client.id);
    expect(claims.client_id).toBe(client.id);
    expect(claims.scope).toBe('orders:read');
    expect(claims.plan).toBe('pro');
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(claims.iat).toBe(Math.floor(env.clock.now() / 1000));
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  it('post credentials issue a token', async () => {
    const reply = await tokenRequest({
      ...GRANT,
      client_id: client.id,
      client_secret: client.secret,
    });

    expect(reply.status).toBe(200);
    expect(json(reply).scope).toBe('orders:read orders:write');
  });

  it('scope defaults to every client scope', async () => {
    const reply = await tokenRequest(GRANT, clientBasic());

    expect(json(reply).scope).toBe('orders:read orders:write');
  });

  it('empty parameter counts as absent', async () => {
    const reply = await tokenRequest('grant_type=client_credentials&scope=', clientBasic());

    expect(reply.status).toBe(200);
    expect(json(reply).scope).toBe('orders:read orders:write');
  });

  it('unknown parameters are ignored', async () => {
    const reply = await tokenRequest({ ...GRANT, resource: 'x', audience: 'y' }, clientBasic());

    expect(reply.status).toBe(200);
  });

  it('content type with charset is accepted', async () => {
    const headers = {
      ...clientBasic(),
      'content-type': 'application/x-www-form-urlencoded; charset=UTF-8',
    };

    expect((await tokenRequest(GRANT, headers)).status).toBe(200);
  });

  it('basic credentials are form-urlencoded first', async () => {
    const reply = await tokenRequest(GRANT, { authorization: basic(SPECIAL_ID, SPECIAL_SECRET) });

    expect(reply.status).toBe(200);
    expect(decodeToken(json(reply).access_token as string).claims.client_id).toBe(SPECIAL_ID);
  });

  it('special characters work in the body', async () => {
    const reply = await tokenRequest({
      ...GRANT,
      client_id: SPECIAL_ID,
      client_secret: SPECIAL_SECRET,
    });

    expect(reply.status).toBe(200);
  });

  it('unencoded basic credentials are rejected', async () => {
    // Unencoded, the id is cut at its ':' and the rest contains a '%' that starts no escape.
    const raw = Buffer.from(`${SPECIAL_ID}:${SPECIAL_SECRET}`).toString('base64');

    const reply = await tokenRequest(GRANT, { authorization: `Basic ${raw}` });

    expectOAuthError(reply, 400, 'invalid_request');
  });

  it('route auth does not guard the endpoint', async () => {
    // Every route requires an oauth token, but the token endpoint is served before routes.
    expect((await send(url, '/orders')).status).toBe(401);
    expect((await tokenRequest(GRANT, clientBasic())).status).toBe(200);
  });
});

describe('token endpoint errors (RFC 6749 section 5.2)', () => {
  it.each<[string, string | Record<string, string>, Record<string, string>]>([
    ['grant_type missing', {}, {}],
    ['grant_type repeated', 'grant_type=client_credentials&grant_type=client_credentials', {}],
    ['scope repeated', 'grant_type=client_credentials&scope=a&scope=', {}],
    ['client_secret without client_id', { ...GRANT, client_secret: 'x' }, {}],
    ['Basic header not base64', GRANT, { authorization: 'Basic !!!' }],
    ['Basic credentials without colon', GRANT, { authorization: `Basic ${btoa('nocolon')}` }],
    ['Basic credentials with bad escape', GRANT, { authorization: `Basic ${btoa('a%zz:b')}` }],
  ])('%s is invalid_request', async (_name, form, headers) => {
    expectOAuthError(await tokenRequest(form, headers), 400, 'invalid_request');
  });

  it('two authentication methods are invalid_request', async () => {
    const reply = await tokenRequest(
      { ...GRANT, client_id: client.id, client_secret: client.secret },
      clientBasic(),
    );

    expectOAuthError(reply, 400, 'invalid_request');
    expect(json(reply).error_description).toMatch(/one client authentication method/);
  });

  it('body client_id differing from Basic is invalid_request', async () => {
    const reply = await tokenRequest({ ...GRANT, client_id: 'someone-else' }, clientBasic());

    expectOAuthError(reply, 400, 'invalid_request');
  });

  it('json body is invalid_request', async () => {
    const reply = await send(url, '/oauth/token', {
      method: 'POST',
      headers: { ...clientBasic(), 'content-type': 'application/json' },
      body: JSON.stringify(GRANT),
    });

    expectOAuthError(reply, 400, 'invalid_request');
    expect(json(reply).error_description).toMatch(/x-www-form-urlencoded/);
  });

  it('oversized body is invalid_request', async () => {
    const reply = await tokenRequest(
      { ...GRANT, scope: 'a'.repeat(9000) },
      { ...clientBasic(), connection: 'keep-alive' },
    );

    expectOAuthError(reply, 400, 'invalid_request');
    expect(json(reply).error_description).toMatch(/larger than 8192 bytes/);
    expect(reply.headers.connection).toBe('close');
  });

  it('secret in the URL is invalid_request', async () => {
    const reply = await postForm(
      url,
      `/oauth/token?client_secret=${client.secret}`,
      GRANT,
      clientBasic(),
    );

    expectOAuthError(reply, 400, 'invalid_request');
    expect(reply.text).not.toContain(client.secret);
  });

  it('GET is 405 with Allow', async () => {
    const reply = await send(url, '/oauth/token');

    expectOAuthError(reply, 405, 'invalid_request');
    expect(reply.headers.allow).toBe('POST');
  });

  it('unknown client is invalid_client', async () => {
    expectInvalidClient(await tokenRequest(GRANT, { authorization: basic('bwc_nobody', 'x') }));
  });

  it('wrong secret is invalid_client', async () => {
    expectInvalidClient(await tokenRequest(GRANT, { authorization: basic(client.id, 'wrong') }));
  });

  it('wrong post secret is invalid_client', async () => {
    const reply = await tokenRequest({ ...GRANT, client_id: client.id, client_secret: 'wrong' });

    expectInvalidClient(reply);
  });

  it('unknown client and wrong secret answer alike', async () => {
    const unknown = await tokenRequest(GRANT, { authorization: basic('bwc_nobody', 'x') });
    const wrong = await tokenRequest(GRANT, { authorization: basic(client.id, 'x') });

    expect(wrong.status).toBe(unknown.status);
    expect(wrong.text).toBe(unknown.text);
    expect(wrong.headers['www-authenticate']).toBe(unknown.headers['www-authenticate']);
  });

  it('missing client authentication is invalid_client', async () => {
    expectInvalidClient(await tokenRequest(GRANT));
  });

  it('client_id without secret is invalid_client', async () => {
    expectInvalidClient(await tokenRequest({ ...GRANT, client_id: client.id }));
  });

  it('bearer scheme is invalid_client', async () => {
    expectInvalidClient(await tokenRequest(GRANT, { authorization: 'Bearer abc' }));
  });

  it.each(['password', 'authorization_code', 'refresh_token', 'urn:x'])(
    'grant_type %s is unsupported_grant_type',
    async (grantType) => {
      const reply = await tokenRequest({ grant_type: grantType }, clientBasic());

      expectOAuthError(reply, 400, 'unsupported_grant_type');
    },
  );

  it('scope beyond the client is invalid_scope', async () => {
    const reply = await tokenRequest({ ...GRANT, scope: 'orders:read admin' }, clientBasic());

    expectOAuthError(reply, 400, 'invalid_scope');
    expect(reply.text).not.toContain('admin');
  });

  it.each(['a"b', 'a\\b', '   '])('malformed scope %j is invalid_scope', async (scope) => {
    const reply = await tokenRequest({ ...GRANT, scope }, clientBasic());

    expectOAuthError(reply, 400, 'invalid_scope');
  });
});

describe('token endpoint events', () => {
  it('success publishes auth.success', async () => {
    const before = env.events.length;

    const reply = await tokenRequest({ ...GRANT, scope: 'orders:read' }, clientBasic());

    const { jti } = decodeToken(json(reply).access_token as string).claims;
    const event = env.events.slice(before).find((item) => item.type === 'auth.success');
    expect(event?.outcome).toBe('success');
    expect(event?.actor).toMatchObject({ type: 'client', id: client.id, ip: '127.0.0.1' });
    expect(event?.target.resourceId).toBe(jti);
    expect(event?.details).toMatchObject({
      method: 'oauth',
      endpoint: 'token',
      clientAuthMethod: 'client_secret_basic',
      scope: 'orders:read',
    });
  });

  it('wrong secret publishes its reason', async () => {
    const before = env.events.length;

    await tokenRequest(GRANT, { authorization: basic(client.id, 'bws_guess') });

    const published = env.events.slice(before);
    expect(published).toHaveLength(1);
    expect(published[0]?.type).toBe('auth.failure');
    expect(published[0]?.severity).toBe('medium');
    expect(published[0]?.actor.id).toBe(client.id);
    expect(published[0]?.details.reason).toBe('invalid_secret');
    expect(JSON.stringify(published)).not.toContain('bws_guess');
  });

  it('unknown client is not named', async () => {
    const before = env.events.length;

    await tokenRequest(GRANT, { authorization: basic('bwc_pasted-secret-here', 'x') });

    const [event] = env.events.slice(before);
    expect(event?.details.reason).toBe('unknown_client');
    expect(event?.actor.type).toBe('anonymous');
    expect(JSON.stringify(event)).not.toContain('pasted-secret-here');
  });

  it('no event contains a secret', () => {
    const text = JSON.stringify(env.events);

    expect(env.events.length).toBeGreaterThan(5);
    expect(text).not.toContain(client.secret);
    expect(text).not.toContain(SPECIAL_SECRET);
  });
});

describe('discovery documents', () => {
  it('metadata lists the endpoints', async () => {
    const reply = await send(url, '/.well-known/oauth-authorization-server');

    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toMatch(/max-age=\d+/);
    expect(json(reply)).toEqual({
      issuer: url,
      token_endpoint: `${url}/oauth/token`,
      jwks_uri: `${url}/.well-known/jwks.json`,
      scopes_supported: ['orders:read'],
      response_types_supported: [],
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint: `${url}/oauth/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint: `${url}/oauth/revoke`,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
  });

  it('jwks has public keys only', async () => {
    const reply = await send(url, '/.well-known/jwks.json');

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/jwk-set+json');
    expect(reply.headers['cache-control']).toBe('public, max-age=300');
    const { keys } = json<{ keys: Record<string, unknown>[] }>(reply);
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
  });

  it('HEAD on jwks has no body', async () => {
    const reply = await send(url, '/.well-known/jwks.json', { method: 'HEAD' });

    expect(reply.status).toBe(200);
    expect(reply.text).toBe('');
    expect(Number(reply.headers['content-length'])).toBeGreaterThan(0);
  });

  it('POST on jwks is 405', async () => {
    const reply = await send(url, '/.well-known/jwks.json', { method: 'POST', headers: FORM });

    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });
});

describe('token endpoint rate limits', () => {
  it('global per-IP limit applies', async () => {
    const limited = await startOAuthGateway({
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 2, window: '1m' }],
    });
    try {
      const statuses = [];
      for (let index = 0; index < 3; index++) {
        const reply = await postForm(limited.gateway.url, '/oauth/token', GRANT);
        statuses.push(reply.status);
      }

      expect(statuses).toEqual([401, 401, 429]);
      const last = await postForm(limited.gateway.url, '/oauth/token', GRANT);
      expect(last.headers['content-type']).toBe('application/problem+json');
      expect(json(last).code).toBe('BWK_ERR_RATE_LIMITED');
    } finally {
      await limited.stop();
    }
  });
});
