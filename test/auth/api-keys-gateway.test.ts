import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withBulwark } from '../../src/adapters/node-http.js';
import { MemoryApiKeyStore } from '../../src/auth/api-key-store.js';
import { validateConfig } from '../../src/core/config.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { Gateway } from '../../src/gateway/server.js';
import { openCredentialStores } from '../../src/storage/open-credentials.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import type { Upstream } from '../helpers/upstream.js';
import { AUDIENCE, createSigner, ISSUER, sign, startEchoUpstream, type Signer } from './tokens.js';

// A variable of this file's own, so that parallel test files never share a pepper.
const PEPPER_ENV = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;
const PEPPER = randomBytes(32).toString('base64');

let upstream: Upstream;
let gateway: Gateway;
let signer: Signer;
const events: SecurityEvent[] = [];
const keys: Record<'free' | 'otherFree' | 'pro' | 'revoked' | 'expired', string> = {
  free: '',
  otherFree: '',
  pro: '',
  revoked: '',
  expired: '',
};
let freeId = '';
let dataDir = '';

beforeAll(async () => {
  process.env[PEPPER_ENV] = PEPPER;
  // Keys are created in the SQLite file of the gateway's data directory before it starts, as
  // the CLI would create them.
  dataDir = mkdtempSync(join(tmpdir(), 'bwk-keys-'));
  const credentials = openCredentialStores({ dataDir, pepper: PEPPER });
  const store = credentials.apiKeys;
  const free = await store.create({
    env: 'test',
    name: 'free',
    owner: 'team-a',
    scopes: ['orders:read', 'orders:write'],
    plan: 'free',
  });
  keys.free = free.key;
  freeId = free.record.id;
  keys.otherFree = (await store.create({ env: 'test', name: 'b', owner: 'b', plan: 'free' })).key;
  keys.pro = (await store.create({ env: 'test', name: 'pro', owner: 'c', plan: 'pro' })).key;
  const revoked = await store.create({ env: 'test', name: 'old', owner: 'd' });
  await store.revoke(revoked.record.id);
  keys.revoked = revoked.key;
  keys.expired = (await store.create({ env: 'test', name: 'e', owner: 'e', expiresAt: 1 })).key;
  await credentials.close();

  signer = await createSigner('ES256', 'k1');
  upstream = await startEchoUpstream();
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      dataDir,
      auth: {
        methods: ['apiKey'],
        apiKeys: { pepperEnv: PEPPER_ENV },
        jwt: {
          issuers: [
            {
              issuer: ISSUER,
              audience: AUDIENCE,
              algorithms: ['ES256'],
              publicKeys: [{ pem: signer.publicPem, alg: 'ES256' }],
            },
          ],
        },
      },
      routes: [
        {
          match: 'GET /limited',
          rateLimits: [
            { name: 'per-key', key: 'apiKey', limit: 2, window: '1m', tiers: { pro: 4 } },
          ],
        },
        { match: 'GET /either', auth: { methods: ['apiKey', 'jwt'] } },
        { match: 'GET /optional', auth: { methods: ['apiKey', 'anonymous'] } },
      ],
    },
    { bus },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
  delete process.env[PEPPER_ENV];
  rmSync(dataDir, { recursive: true, force: true });
});

function call(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return send(gateway.url, path, { headers });
}

function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

function expectInvalidKey(reply: Reply, reason: string): void {
  expect(reply.status).toBe(401);
  expect(reply.headers['content-type']).toBe('application/problem+json');
  expect(reply.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
  const body = json(reply);
  expect(body.code).toBe('BWK_ERR_AUTH_INVALID_API_KEY');
  expect(body.reason).toBe(reason);
}

describe('api key authentication', () => {
  it('bearer key sends identity upstream', async () => {
    const forged = { 'x-auth-subject': 'admin', 'x-auth-type': 'user' };

    const reply = await call('/orders', { ...bearer(keys.free), ...forged });

    expect(reply.status).toBe(200);
    const received = json(reply);
    expect(received['x-auth-type']).toBe('api_key');
    expect(received['x-auth-subject']).toBe(freeId);
    expect(received['x-auth-scopes']).toBe('orders:read orders:write');
    expect(received.authorization).toBeUndefined();
  });

  it('X-API-Key header is accepted', async () => {
    const reply = await call('/orders', { 'x-api-key': keys.free });

    expect(reply.status).toBe(200);
    expect(json(reply)['x-auth-subject']).toBe(freeId);
    expect(json(reply)['x-api-key']).toBeUndefined();
  });

  it('missing key is 401', async () => {
    const reply = await call('/orders');

    expect(reply.status).toBe(401);
    expect(json(reply).code).toBe('BWK_ERR_AUTH_REQUIRED');
  });

  it.each([
    ['plain', (key: string) => `/orders?api_key=${key}`],
    ['encoded underscore', (key: string) => `/orders?page=2&k=${key.replace(/_/g, '%5F')}`],
  ])('key in query string (%s) is 400', async (_name, path) => {
    const before = events.length;

    const reply = await call(path(keys.free));

    expect(reply.status).toBe(400);
    const body = json(reply);
    expect(body.code).toBe('BWK_ERR_AUTH_API_KEY_IN_URL');
    expect(String(body.detail)).toMatch(/logs/);
    expect(reply.text).not.toContain(keys.free.slice(9));
    const event = events.slice(before).find((item) => item.type === 'auth.failure');
    expect(event?.details.reason).toBe('key_in_url');
  });

  it('query key is rejected with valid header', async () => {
    const reply = await call(`/orders?key=${keys.free}`, bearer(keys.free));

    expect(reply.status).toBe(400);
  });

  it.each(['Bearer', 'Bearer a b', 'Bearer\tbwk_x'])(
    'malformed header "%s" is a 400',
    async (authorization) => {
      const reply = await call('/orders', { authorization });

      expect(reply.status).toBe(400);
      expect(json(reply).code).toBe('BWK_ERR_AUTH_MALFORMED');
    },
  );

  it('mistyped key fails the checksum', async () => {
    const typo = keys.free.slice(0, 20) + (keys.free[20] === 'a' ? 'b' : 'a') + keys.free.slice(21);
    const before = events.length;

    const reply = await call('/orders', bearer(typo));

    expectInvalidKey(reply, 'bad_checksum');
    expect(reply.text).not.toContain(typo.slice(9));
    const published = events.slice(before);
    expect(published.map((event) => event.details.reason)).toEqual(['bad_checksum']);
    expect(JSON.stringify(published)).not.toContain(typo.slice(9));
  });

  it('non-key bearer value is malformed', async () => {
    expectInvalidKey(await call('/orders', bearer('abc.def')), 'malformed');
  });

  it('revoked key is rejected', async () => {
    expectInvalidKey(await call('/orders', bearer(keys.revoked)), 'revoked');
  });

  it('expired key is rejected', async () => {
    expectInvalidKey(await call('/orders', bearer(keys.expired)), 'expired');
  });

  it('optional route admits no key', async () => {
    expect((await call('/optional')).status).toBe(200);
    expectInvalidKey(await call('/optional', bearer(keys.revoked)), 'revoked');
  });
});

describe('api keys beside jwt', () => {
  it('route accepting both takes either', async () => {
    const token = await sign(signer, { sub: 'alice' });

    const withToken = json(await call('/either', bearer(token)));
    const withKey = json(await call('/either', bearer(keys.free)));

    expect(withToken['x-auth-type']).toBe('user');
    expect(withKey['x-auth-type']).toBe('api_key');
  });

  it('route accepting both requires one', async () => {
    const reply = await call('/either');

    expect(reply.status).toBe(401);
    expect(json(reply).code).toBe('BWK_ERR_AUTH_REQUIRED');
  });

  it('jwt on key-only route is rejected', async () => {
    const token = await sign(signer, { sub: 'alice' });

    expectInvalidKey(await call('/orders', bearer(token)), 'not_an_api_key');
  });
});

describe('rate limits keyed on api keys', () => {
  async function statuses(key: string, count: number): Promise<number[]> {
    const result: number[] = [];
    for (let index = 0; index < count; index++) {
      result.push((await call('/limited', { 'x-api-key': key })).status);
    }
    return result;
  }

  it('apiKey limit counts each key', async () => {
    expect(await statuses(keys.free, 3)).toEqual([200, 200, 429]);
    expect(await statuses(keys.otherFree, 1)).toEqual([200]);
  });

  it('key plan selects the tier', async () => {
    expect(await statuses(keys.pro, 5)).toEqual([200, 200, 200, 200, 429]);
  });
});

describe('node:http adapter with a key store', () => {
  it('handler sees the api key principal', async () => {
    const store = new MemoryApiKeyStore({ pepper: PEPPER });
    const { key, record } = await store.create({
      env: 'test',
      name: 'app',
      owner: 'team-a',
      scopes: ['read'],
    });
    const listener = withBulwark(
      (_req, res, ctx) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ctx.principal));
      },
      {
        auth: {
          methods: ['apiKey'],
          scopes: { all: ['read'] },
          apiKeys: { pepperEnv: PEPPER_ENV },
        },
        apiKeyStore: store,
      },
    );
    const server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    try {
      const accepted = await send(url, '/x', { headers: { 'x-api-key': key } });
      await store.revoke(record.id);
      const revoked = await send(url, '/x', { headers: { 'x-api-key': key } });

      expect(accepted.status).toBe(200);
      expect(json(accepted)).toEqual({ type: 'api_key', id: record.id, scopes: ['read'] });
      expect(revoked.status).toBe(401);
      expect(json(revoked).reason).toBe('revoked');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await listener.close();
    }
  });

  it('invalid apiKeyStore option is rejected', () => {
    expect(() =>
      withBulwark(() => undefined, {
        auth: { methods: ['apiKey'], apiKeys: { pepperEnv: PEPPER_ENV } },
        apiKeyStore: {} as never,
      }),
    ).toThrow(/BWK_ERR_CONFIG_TYPE at apiKeyStore/);
  });
});

describe('api key configuration', () => {
  it('missing pepper stops the start', () => {
    const config = validateConfig({
      upstream: 'http://127.0.0.1:3000',
      events: { sink: 'none' },
      auth: { methods: ['apiKey'], apiKeys: { pepperEnv: `${PEPPER_ENV}_UNSET` } },
    });

    expect(() => new Gateway(config)).toThrow(
      /BWK_ERR_CONFIG_API_KEYS at auth\.apiKeys\.pepperEnv/,
    );
  });

  it('unusable data directory stops the start', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'bwk-keys-'));
    const notADirectory = join(parent, 'file');
    writeFileSync(notADirectory, '');
    const config = validateConfig({
      upstream: 'http://127.0.0.1:3000',
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: notADirectory,
      events: { sink: 'none' },
      auth: { methods: ['apiKey'], apiKeys: { pepperEnv: PEPPER_ENV } },
    });
    const gateway = new Gateway(config);

    try {
      await expect(gateway.listen()).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await gateway.stop();
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('apiKeys.file is an unknown key', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:3000',
        auth: { apiKeys: { file: './data/api-keys.json' } } as never,
      }),
    ).toThrow(/BWK_ERR_CONFIG_UNKNOWN_KEY at auth\.apiKeys/);
  });

  it('Authorization as key header is rejected', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:3000',
        auth: { apiKeys: { header: 'Authorization' } },
      }),
    ).toThrow(/BWK_ERR_CONFIG_CONFLICT at auth\.apiKeys\.header/);
  });

  it('pepper in YAML is an unknown key', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:3000',
        auth: { apiKeys: { pepper: 'x'.repeat(40) } } as never,
      }),
    ).toThrow(/auth\.apiKeys/);
  });
});
