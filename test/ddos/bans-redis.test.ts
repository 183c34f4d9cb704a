import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisBanStore } from '../../src/ddos/redis-ban-store.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { deleteKeys } from '../helpers/redis-keys.js';
import { okHandler, startUpstream, unusedPort, type Upstream } from '../helpers/upstream.js';

const REDIS = 'redis://127.0.0.1:6379';
const PREFIX = `bwk-test-${randomBytes(4).toString('hex')}:`;
const TOKEN_ENV = `BWK_TEST_BANS_TOKEN_${randomBytes(6).toString('hex').toUpperCase()}`;
const TOKEN = randomBytes(32).toString('hex');

const policy = {
  trustProxy: ['127.0.0.1/32'],
  rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
  bans: {
    durations: ['1h'],
    // Long enough that only the notices, not the periodic reload, can make a test pass.
    syncInterval: '1h',
    triggers: [{ event: 'ratelimit.exceeded', count: 3, window: '1m' }],
  },
  ipLists: { allow: ['198.51.100.250'] },
  storage: { redis: REDIS, keyPrefix: PREFIX },
};

let upstream: Upstream;
let redis: Redis;
let first: Gateway;
let second: Gateway;
const events: SecurityEvent[] = [];

function from(gateway: Gateway, ip: string): Promise<Reply> {
  return send(gateway.url, '/', { headers: { 'x-forwarded-for': ip } });
}

/** Polls until `gateway` responds to `ip` with `status`, for at most five seconds. */
async function until(gateway: Gateway, ip: string, status: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  let reply = await from(gateway, ip);
  while (reply.status !== status && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    reply = await from(gateway, ip);
  }
  return reply.status;
}

function admin(gateway: Gateway, method: string, path: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return send(gateway.url, `/_bulwark/admin${path}`, {
    method,
    body: payload,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
  });
}

async function start(): Promise<Gateway> {
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  return startGateway(
    { upstream: upstream.url, admin: { tokenEnv: TOKEN_ENV }, ...policy },
    { bus, credentials: createMemoryCredentialStores({ pepper: randomBytes(32).toString('hex') }) },
  );
}

beforeAll(async () => {
  process.env[TOKEN_ENV] = TOKEN;
  redis = new Redis(REDIS);
  upstream = await startUpstream(okHandler);
  first = await start();
  second = await start();
  // The instances reload every ban once their subscription is up; wait for both.
  await Promise.all([
    first.protection.network.bans!.sync(),
    second.protection.network.bans!.sync(),
  ]);
});

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  await upstream?.close();
  await deleteKeys(redis, `${PREFIX}*`);
  redis.disconnect();
  delete process.env[TOKEN_ENV];
});

describe('bans shared through Redis', () => {
  it('ban made on one instance applies on another', async () => {
    const ip = '198.51.100.1';
    for (let i = 0; i < 4; i++) await from(first, ip);

    expect(await until(first, ip, 403)).toBe(403);
    expect(await until(second, ip, 403)).toBe(403);
    expect((await from(second, '198.51.100.2')).status).toBe(200);
    const applied = events.filter((event) => event.type === 'ban.applied');
    expect(applied).toHaveLength(1);
    expect(applied[0]!.details).toMatchObject({ level: 1, sharedWithInstances: true });
  });

  it('violations on two instances add up', async () => {
    const ip = '198.51.100.3';
    await from(first, ip);
    await from(first, ip);
    await from(second, ip);
    await from(first, ip);
    // Each instance saw fewer than three violations, but Redis counted three in all.
    expect(await until(second, ip, 403)).toBe(403);
  });

  it('allowlisted address never banned', async () => {
    const ip = '198.51.100.250';
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await from(i % 2 ? first : second, ip)).status);

    expect(statuses.filter((status) => status === 403)).toEqual([]);
    expect(await redis.zscore(`${PREFIX}{bans}:active`, `${ip}/32`)).toBeNull();
  });

  it('admin ban and removal reach every instance', async () => {
    const added = await admin(second, 'POST', '/bans', { address: '192.0.2.0/24' });
    expect(added.status).toBe(201);
    expect(await until(first, '192.0.2.8', 403)).toBe(403);

    const listed = json<{ bans: Array<{ subject: string }> }>(await admin(first, 'GET', '/bans'));
    expect(listed.bans.map((ban) => ban.subject)).toContain('192.0.2.0/24');

    expect((await admin(first, 'DELETE', '/bans/192.0.2.0%2F24')).status).toBe(204);
    expect(await until(second, '192.0.2.8', 200)).toBe(200);
  });

  it('instance started later loads existing bans', async () => {
    await admin(first, 'POST', '/bans', { address: '203.0.113.0/24', duration: '10m' });
    const third = await start();
    try {
      expect(await until(third, '203.0.113.9', 403)).toBe(403);
    } finally {
      await third.stop();
    }
  });
});

describe('Redis ban store outage', () => {
  it('violations ban locally while Redis is down', async () => {
    const store = new RedisBanStore({
      redis: `redis://127.0.0.1:${await unusedPort()}`,
      escalation: { durationsMs: [60_000], resetAfterMs: 60_000 },
      commandTimeoutMs: 200,
    });
    const trigger = { event: 'auth.failure', count: 2, windowMs: 60_000 };
    try {
      expect(await store.recordViolation('192.0.2.1/32', trigger)).toBeUndefined();
      const recorded = await store.recordViolation('192.0.2.1/32', trigger);
      expect(recorded?.localOnly).toBe(true);
      expect(recorded?.ban.subject).toBe('192.0.2.1/32');
      await expect(store.list()).rejects.toMatchObject({ code: 'BWK_ERR_STORE_UNAVAILABLE' });
    } finally {
      await store.close();
    }
  });
});
