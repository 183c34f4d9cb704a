import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { startEchoUpstream } from '../auth/tokens.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { deleteKeys } from '../helpers/redis-keys.js';
import type { Upstream } from '../helpers/upstream.js';

const REDIS = 'redis://127.0.0.1:6379';
const PEPPER_ENV = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;
const PEPPER = randomBytes(32).toString('base64');
const PREFIX = `bwk-test-${randomBytes(4).toString('hex')}:`;

let upstream: Upstream;
let credentials: CredentialStores;
const gateways: Gateway[] = [];

/**
 * Two gateways that share one credential store, each with its own cache, as two instances
 * on one database are. The cache lifetime is a minute, so only a notice can make an
 * instance see a change in time.
 */
async function startPair(redis: boolean): Promise<[Gateway, Gateway]> {
  const start = (): Promise<Gateway> =>
    startGateway(
      {
        upstream: upstream.url,
        storage: redis ? { redis: REDIS, keyPrefix: PREFIX } : {},
        auth: { methods: ['apiKey'], apiKeys: { pepperEnv: PEPPER_ENV }, cache: { ttl: '1m' } },
      },
      { credentials },
    );
  const pair: [Gateway, Gateway] = [await start(), await start()];
  gateways.push(...pair);
  return pair;
}

async function status(gateway: Gateway, key: string): Promise<number> {
  const reply = await send(gateway.url, '/orders', { headers: { authorization: `Bearer ${key}` } });
  return reply.status;
}

/** Polls until `gateway` answers `expected` for `key`, and returns the time it took. */
async function timeUntil(gateway: Gateway, key: string, expected: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 5_000) {
    if ((await status(gateway, key)) === expected) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Infinity;
}

beforeAll(async () => {
  process.env[PEPPER_ENV] = PEPPER;
  credentials = createMemoryCredentialStores({ pepper: PEPPER });
  upstream = await startEchoUpstream();
});

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await upstream.close();
  const client = new Redis(REDIS);
  await deleteKeys(client, `${PREFIX}*`);
  client.disconnect();
  delete process.env[PEPPER_ENV];
});

describe('credential changes across gateway instances', () => {
  it('a key revoked on one instance is rejected by another within a second', async () => {
    const [first, second] = await startPair(true);
    const { key, record } = await credentials.apiKeys.create({
      env: 'test',
      name: 'a',
      owner: 'o',
    });
    expect(await status(first, key)).toBe(200);
    expect(await status(second, key)).toBe(200);

    await credentials.apiKeys.revoke(record.id);
    await first.notifyCredentialChange({ kind: 'apiKey', id: record.id });

    expect(await status(first, key)).toBe(401);
    expect(await timeUntil(second, key, 401)).toBeLessThan(1_000);
  });

  it('without Redis, another instance keeps its cached key until the entry expires', async () => {
    const [first, second] = await startPair(false);
    const { key, record } = await credentials.apiKeys.create({
      env: 'test',
      name: 'b',
      owner: 'o',
    });
    expect(await status(second, key)).toBe(200);

    await credentials.apiKeys.revoke(record.id);
    await first.notifyCredentialChange({ kind: 'apiKey', id: record.id });

    expect(await status(first, key)).toBe(401);
    expect(await status(second, key)).toBe(200);
  });
});
