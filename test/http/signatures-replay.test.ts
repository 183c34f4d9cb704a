import { randomBytes, randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { hmacSigningKey } from '../../src/http/signing.js';
import { startGateway } from '../helpers/gateway.js';
import { json } from '../helpers/http.js';
import { deleteKeys } from '../helpers/redis-keys.js';
import { RedisServer } from '../helpers/redis-server.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { resend, sendSigned, uniqueEnvName } from './signed-requests.js';

const REDIS = 'redis://127.0.0.1:6379/0';
const SECRET_ENV = uniqueEnvName('BWK_TEST_SIG');
const SECRET = randomBytes(32).toString('base64');
const key = hmacSigningKey(SECRET);

let upstream: Upstream;
const gateways: Gateway[] = [];

function policy(redis: string, keyPrefix: string, onRedisFailure = 'fallback') {
  return {
    upstream: upstream.url,
    storage: { redis, keyPrefix, onRedisFailure: onRedisFailure as 'fallback' },
    signatures: {
      required: true,
      keys: [{ id: 'billing', algorithm: 'hmac-sha256' as const, secretEnv: SECRET_ENV }],
    },
  };
}

async function start(config: ReturnType<typeof policy>): Promise<Gateway> {
  const gateway = await startGateway(config);
  gateways.push(gateway);
  return gateway;
}

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  upstream = await startUpstream(okHandler);
});

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
});

afterAll(async () => {
  await upstream.close();
  delete process.env[SECRET_ENV];
});

describe('nonce replay cache shared through Redis', () => {
  const keyPrefix = `bwk-sig-${randomUUID().slice(0, 8)}:`;

  afterAll(async () => {
    const client = new Redis(REDIS);
    try {
      await deleteKeys(client, `${keyPrefix}*`);
    } finally {
      client.disconnect();
    }
  });

  it('rejects on a second instance a request the first admitted', async () => {
    const first = await start(policy(REDIS, keyPrefix));
    const second = await start(policy(REDIS, keyPrefix));
    // Both instances must verify one URL, so the client signs the first one's and sends the
    // same bytes to each with the first one's Host, as a load balancer would pass them on.
    const sent = await sendSigned(first.url, '/orders', { keyId: 'billing', key });
    expect(sent.reply.status).toBe(200);

    const host = new URL(first.url).host;
    const replayed = await resend(second.url, '/orders', 'GET', { ...sent.headers, host });
    expect(replayed.status).toBe(401);
    expect(json(replayed)).toMatchObject({ code: 'BWK_ERR_SIGNATURE_REPLAYED', reason: 'replay' });
  });

  it('stores each nonce under the key prefix with an expiry', async () => {
    const gateway = await start(policy(REDIS, keyPrefix));
    const sent = await sendSigned(gateway.url, '/orders', { keyId: 'billing', key });
    expect(sent.reply.status).toBe(200);

    const client = new Redis(REDIS);
    try {
      const keys = await client.keys(`${keyPrefix}sig-nonce:*`);
      expect(keys.length).toBeGreaterThanOrEqual(1);
      const ttl = await client.pttl(keys[0]!);
      // maxAge (5 min) plus clockSkew (30 s) by default.
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(330_000);
    } finally {
      client.disconnect();
    }
  });
});

describe('nonce replay cache while Redis is down', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await redis.kill();
  });

  it('refuses signed requests in closed mode', async () => {
    if (!redis.running) await redis.restart();
    const gateway = await start(policy(redis.url, 'bwk-sig-closed:', 'closed'));
    await redis.kill();

    const { reply } = await sendSigned(gateway.url, '/orders', { keyId: 'billing', key });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('5');
    expect(json(reply)).toMatchObject({ code: 'BWK_ERR_SIGNATURE_UNAVAILABLE' });
  });

  it('falls back to memory and still catches replays on one instance', async () => {
    if (!redis.running) await redis.restart();
    const gateway = await start(policy(redis.url, 'bwk-sig-fallback:', 'fallback'));
    await redis.kill();

    const sent = await sendSigned(gateway.url, '/orders', { keyId: 'billing', key });
    expect(sent.reply.status).toBe(200);
    const replayed = await resend(gateway.url, '/orders', 'GET', sent.headers);
    expect(json(replayed)).toMatchObject({ reason: 'replay' });
  });
});
