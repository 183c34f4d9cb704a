import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import type { Upstream } from '../helpers/upstream.js';
import {
  AUDIENCE,
  base64url,
  createSigner,
  ISSUER,
  sign,
  startEchoUpstream,
  type Signer,
} from './tokens.js';

const OTHER_ISSUER = 'https://other-issuer.test';

let upstream: Upstream;
let gateway: Gateway;
let es: Signer;
let rs: Signer;
let ed: Signer;
const events: SecurityEvent[] = [];

beforeAll(async () => {
  es = await createSigner('ES256', 'es-1');
  rs = await createSigner('RS256', 'rs-1');
  ed = await createSigner('EdDSA', 'ed-1');
  const dir = mkdtempSync(join(tmpdir(), 'bwk-jwks-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [ed.publicJwk] }));

  upstream = await startEchoUpstream();
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      auth: {
        jwt: {
          issuers: [
            {
              issuer: ISSUER,
              audience: [AUDIENCE, 'https://other-api.test'],
              algorithms: ['ES256', 'RS256'],
              publicKeys: [
                { pem: es.publicPem, alg: 'ES256', kid: 'es-1' },
                { pem: rs.publicPem, alg: 'RS256', kid: 'rs-1' },
              ],
              clockTolerance: '5s',
              planClaim: 'plan',
            },
            { issuer: OTHER_ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'], jwksFile },
          ],
        },
      },
      routes: [
        { match: 'GET /private', auth: { methods: ['jwt'] } },
        { match: 'GET /optional', auth: { methods: ['jwt', 'anonymous'] } },
        {
          match: 'GET /orders',
          auth: { methods: ['jwt'], scopes: { all: ['orders:read'], any: ['staff', 'owner'] } },
        },
      ],
    },
    { bus },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
});

function call(path: string, token?: string, headers: Record<string, string> = {}) {
  const authorization = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return send(gateway.url, path, { headers: { ...authorization, ...headers } });
}

function expectInvalidToken(reply: Reply, reason: string): void {
  expect(reply.status).toBe(401);
  expect(reply.headers['www-authenticate']).toMatch(
    /^Bearer error="invalid_token", error_description="[^"]+"$/,
  );
  expect(reply.headers['content-type']).toBe('application/problem+json');
  const body = json(reply);
  expect(body.code).toBe('BWK_ERR_AUTH_INVALID_TOKEN');
  expect(body.reason).toBe(reason);
}

describe('jwt authentication', () => {
  it.each([
    ['ES256', () => es],
    ['RS256', () => rs],
  ])('valid %s token reaches upstream', async (_alg, signer) => {
    const token = await sign(signer(), { sub: 'alice', scope: 'a b' });

    const reply = await call('/private', token);

    expect(reply.status).toBe(200);
    expect(json(reply)['x-auth-subject']).toBe('alice');
  });

  it('valid EdDSA token from JWKS file', async () => {
    const token = await sign(ed, { sub: 'bob' }, { iss: OTHER_ISSUER });

    const reply = await call('/private', token);

    expect(reply.status).toBe(200);
    expect(json(reply)['x-auth-subject']).toBe('bob');
  });

  it('missing token gets bare Bearer challenge', async () => {
    const reply = await call('/private');

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer');
    expect(json(reply).code).toBe('BWK_ERR_AUTH_REQUIRED');
  });

  it('alg none token is rejected', async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url({ alg: 'none', typ: 'JWT' });
    const payload = base64url({ sub: 'mallory', iss: ISSUER, aud: AUDIENCE, exp: now + 300 });

    expectInvalidToken(await call('/private', `${header}.${payload}.`), 'algorithm_not_allowed');
  });

  it.each([
    ['RS256', () => rs],
    ['ES256', () => es],
  ])('HS256 signed with %s public key is rejected', async (_alg, signer) => {
    const now = Math.floor(Date.now() / 1000);
    const secret = new TextEncoder().encode(signer().publicPem);
    const token = await new SignJWT({ sub: 'mallory' })
      .setProtectedHeader({ alg: 'HS256', kid: signer().kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(now + 300)
      .sign(secret);

    expectInvalidToken(await call('/private', token), 'algorithm_not_allowed');
  });

  it('expired token is rejected', async () => {
    const token = await sign(es, { sub: 'alice' }, { expiresIn: -60 });

    expectInvalidToken(await call('/private', token), 'expired');
  });

  it('expiry within clock tolerance accepted', async () => {
    const token = await sign(es, { sub: 'alice' }, { expiresIn: -2 });

    expect((await call('/private', token)).status).toBe(200);
  });

  it('not-yet-valid token is rejected', async () => {
    const token = await sign(es, { sub: 'alice' }, { notBefore: 120 });

    expectInvalidToken(await call('/private', token), 'not_yet_valid');
  });

  it('untrusted issuer is rejected', async () => {
    const token = await sign(es, { sub: 'alice' }, { iss: 'https://evil.test' });

    expectInvalidToken(await call('/private', token), 'untrusted_issuer');
  });

  it('algorithm outside issuer allowlist rejected', async () => {
    const token = await sign(es, { sub: 'alice' }, { iss: OTHER_ISSUER, kid: 'ed-1' });

    expectInvalidToken(await call('/private', token), 'algorithm_not_allowed');
  });

  it('wrong audience is rejected', async () => {
    const token = await sign(es, { sub: 'alice' }, { aud: 'https://elsewhere.test' });

    expectInvalidToken(await call('/private', token), 'wrong_audience');
  });

  it('any configured audience is accepted', async () => {
    const token = await sign(es, { sub: 'alice' }, { aud: 'https://other-api.test' });

    expect((await call('/private', token)).status).toBe(200);
  });

  it('kid pointing nowhere is rejected', async () => {
    const token = await sign(es, { sub: 'alice' }, { kid: 'no-such-key' });

    expectInvalidToken(await call('/private', token), 'unknown_key');
  });

  it('tampered payload fails signature check', async () => {
    const token = await sign(es, { sub: 'alice' });
    const [header, , signature] = token.split('.');
    const forged = base64url({
      sub: 'admin',
      iss: ISSUER,
      aud: AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 300,
    });

    expectInvalidToken(await call('/private', `${header}.${forged}.${signature}`), 'bad_signature');
  });

  it('non-JWT bearer token is malformed', async () => {
    expectInvalidToken(await call('/private', 'abc.def'), 'malformed');
  });

  it.each(['Bearer', 'Bearer a b', 'Bearer a"b', 'Bearer\ta'])(
    'malformed header "%s" is a 400',
    async (authorization) => {
      const reply = await call('/private', undefined, { authorization });

      expect(reply.status).toBe(400);
      expect(reply.headers['www-authenticate']).toMatch(/^Bearer error="invalid_request"/);
      expect(json(reply).code).toBe('BWK_ERR_AUTH_MALFORMED');
    },
  );

  it('other scheme counts as no credentials', async () => {
    const reply = await call('/private', undefined, { authorization: 'Basic YTpi' });

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer');
  });

  it('rejection never echoes the token', async () => {
    const token = await sign(es, { sub: 'alice' }, { expiresIn: -60 });
    const before = events.length;

    const reply = await call('/private', token);

    expect(reply.status).toBe(401);
    expect(reply.text).not.toContain(token.split('.')[1]!);
    expect(reply.headers['www-authenticate']).not.toContain(token.split('.')[1]!);
    const published = events.slice(before);
    expect(JSON.stringify(published)).not.toContain(token.split('.')[1]!);
  });

  it('failure publishes auth.failure with reason', async () => {
    const token = await sign(es, { sub: 'alice' }, { aud: 'https://elsewhere.test' });
    const before = events.length;

    await call('/private', token);

    const event = events.slice(before).find((item) => item.type === 'auth.failure');
    expect(event?.category).toBe('authentication');
    expect(event?.details.reason).toBe('wrong_audience');
  });

  it('success publishes one auth.success event naming the user', async () => {
    const token = await sign(es, { sub: 'alice', scope: 'orders:read' });
    const before = events.length;

    expect((await call('/private', token)).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, 20));
    const published = events.slice(before);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      type: 'auth.success',
      outcome: 'success',
      actor: { type: 'user', id: 'alice' },
      details: { scopes: ['orders:read'] },
    });
    expect(JSON.stringify(published[0])).not.toContain(token);
  });
});

describe('anonymous access', () => {
  it('optional route admits no token', async () => {
    const reply = await call('/optional');

    expect(reply.status).toBe(200);
    expect(json(reply)['x-auth-subject']).toBeUndefined();
  });

  it('optional route rejects invalid token', async () => {
    const token = await sign(es, { sub: 'alice' }, { expiresIn: -60 });

    expectInvalidToken(await call('/optional', token), 'expired');
  });

  it('route without auth ignores bearer token', async () => {
    const reply = await call('/public', 'not-a-jwt');

    expect(reply.status).toBe(200);
    expect(json(reply).authorization).toBe('Bearer not-a-jwt');
  });
});

describe('scope authorization', () => {
  it('all and any scopes present pass', async () => {
    const token = await sign(es, { sub: 'alice', scope: 'orders:read owner' });

    expect((await call('/orders', token)).status).toBe(200);
  });

  it('scp array is read', async () => {
    const token = await sign(es, { sub: 'alice', scp: ['orders:read', 'staff'] });

    expect((await call('/orders', token)).status).toBe(200);
  });

  it('missing required scope is 403', async () => {
    const token = await sign(es, { sub: 'alice', scope: 'owner' });
    const before = events.length;

    const reply = await call('/orders', token);

    expect(reply.status).toBe(403);
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_scope", scope="orders:read staff owner"',
    );
    const body = json(reply);
    expect(body.code).toBe('BWK_ERR_AUTH_INSUFFICIENT_SCOPE');
    expect(body.missingScopes).toEqual(['orders:read']);
    const event = events.slice(before).find((item) => item.type === 'authz.denied');
    expect(event?.actor.id).toBe('alice');
  });

  it('none of any-of scopes is 403', async () => {
    const token = await sign(es, { sub: 'alice', scope: 'orders:read' });

    const reply = await call('/orders', token);

    expect(reply.status).toBe(403);
    expect(json(reply).anyOfScopes).toEqual(['staff', 'owner']);
  });
});

describe('upstream identity headers', () => {
  const forged = {
    'x-auth-subject': 'admin',
    'x-auth-scopes': 'everything',
    'x-auth-type': 'user',
  };

  it('client copies stripped on anonymous route', async () => {
    const reply = await call('/public', undefined, forged);

    const received = json(reply);
    expect(received['x-auth-subject']).toBeUndefined();
    expect(received['x-auth-scopes']).toBeUndefined();
    expect(received['x-auth-type']).toBeUndefined();
  });

  it('verified identity replaces client copies', async () => {
    const token = await sign(es, { sub: 'alice', scope: 'orders:read staff' });

    const received = json(await call('/private', token, forged));

    expect(received['x-auth-subject']).toBe('alice');
    expect(received['x-auth-scopes']).toBe('orders:read staff');
    expect(received['x-auth-type']).toBe('user');
  });

  it('token without sub is a client', async () => {
    const token = await sign(es, { client_id: 'billing-service' });

    const received = json(await call('/private', token));

    expect(received['x-auth-subject']).toBe('billing-service');
    expect(received['x-auth-type']).toBe('client');
  });

  it('non-ASCII subject is percent-encoded', async () => {
    const token = await sign(es, { sub: 'zoë\r\nx-evil: 1' });

    const received = json(await call('/private', token));

    expect(received['x-auth-subject']).toBe('zo%C3%AB%0D%0Ax-evil%3A%201');
    expect(received['x-evil']).toBeUndefined();
  });
});
