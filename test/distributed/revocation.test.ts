import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startEchoUpstream } from '../auth/tokens.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { deleteKeys } from '../helpers/redis-keys.js';
import type { Upstream } from '../helpers/upstream.js';

const REDIS = 'redis://127.0.0.1:6379';
const PEPPER_ENV = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;
const TOKEN_ENV = `BWK_TEST_ADMIN_${randomBytes(6).toString('hex').toUpperCase()}`;
const TOKEN = randomBytes(24).toString('base64url');
const PREFIX = `bwk-test-${randomBytes(4).toString('hex')}:`;

let upstream: Upstream;
let database: TestDatabase;
const gateways: Gateway[] = [];

/**
 * Two gateway processes' worth of state: each instance opens its own connection pool to one
 * PostgreSQL database and caches keys for a minute, as instances behind a load balancer do.
 * Only a notice can make the second see a change in time.
 */
async function startPair(redis: boolean): Promise<[Gateway, Gateway]> {
  const start = (): Promise<Gateway> =>
    startGateway({
      upstream: upstream.url,
      storage: { postgres: database.url, ...(redis ? { redis: REDIS, keyPrefix: PREFIX } : {}) },
      admin: { tokenEnv: TOKEN_ENV },
      auth: { methods: ['apiKey'], apiKeys: { pepperEnv: PEPPER_ENV }, cache: { ttl: '1m' } },
    });
  const pair: [Gateway, Gateway] = [await start(), await start()];
  gateways.push(...pair);
  return pair;
}

function admin(gateway: Gateway, path: string, body: unknown) {
  return send(gateway.url, `/_bulwark/admin${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function createKey(gateway: Gateway): Promise<{ key: string; id: string }> {
  const reply = await admin(gateway, '/keys', { name: 'svc', owner: 'team' });
  expect(reply.status).toBe(201);
  const body = json<{ key: string; record: { id: string } }>(reply);
  return { key: body.key, id: body.record.id };
}

async function status(gateway: Gateway, key: string): Promise<number> {
  const reply = await send(gateway.url, '/orders', { headers: { authorization: `Bearer ${key}` } });
  return reply.status;
}

/** Polls until `gateway` responds with `expected` for `key`, and returns the time it took. */
async function timeUntil(gateway: Gateway, key: string, expected: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 5_000) {
    if ((await status(gateway, key)) === expected) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Infinity;
}

beforeAll(async () => {
  process.env[PEPPER_ENV] = randomBytes(32).toString('base64');
  process.env[TOKEN_ENV] = TOKEN;
  database = await createTestDatabase();
  upstream = await startEchoUpstream();
});

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await upstream.close();
  await database.drop();
  const client = new Redis(REDIS);
  await deleteKeys(client, `${PREFIX}*`);
  client.disconnect();
  delete process.env[PEPPER_ENV];
  delete process.env[TOKEN_ENV];
});

describe('credential changes across gateway instances on PostgreSQL', () => {
  it('a key revoked on one instance is rejected by another within a second', async () => {
    const [first, second] = await startPair(true);
    const { key, id } = await createKey(first);
    expect(await status(first, key)).toBe(200);
    expect(await status(second, key)).toBe(200);

    expect((await admin(first, `/keys/${id}/revoke`, {})).status).toBe(200);

    expect(await status(first, key)).toBe(401);
    expect(await timeUntil(second, key, 401)).toBeLessThan(1_000);
  });

  it('rotated key ends on other instance', async () => {
    const [first, second] = await startPair(true);
    const { key, id } = await createKey(first);
    expect(await status(second, key)).toBe(200);

    const rotated = await admin(first, `/keys/${id}/rotate`, { grace: '0s' });
    const successor = json<{ key: string }>(rotated).key;

    expect(await timeUntil(second, key, 401)).toBeLessThan(1_000);
    expect(await status(second, successor)).toBe(200);
  });

  it('without Redis, another instance keeps its cached key until the entry expires', async () => {
    const [first, second] = await startPair(false);
    const { key, id } = await createKey(first);
    expect(await status(second, key)).toBe(200);

    expect((await admin(first, `/keys/${id}/revoke`, {})).status).toBe(200);

    expect(await status(first, key)).toBe(401);
    expect(await status(second, key)).toBe(200);
  });
});
