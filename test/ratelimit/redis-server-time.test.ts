import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { algorithms, type LimitCheck, type LimitPolicy } from '../../src/ratelimit/policy.js';
import { RedisStore } from '../../src/ratelimit/redis-store.js';
import { createRedisClient, waitForRedisReady } from '../../src/storage/redis.js';
import { deleteKeys } from '../helpers/redis-keys.js';

const HOUR = 3_600_000;
const CLIENTS = 4;
const REQUESTS_PER_CLIENT = 100;

const keyPrefix = `bwk-test-${randomUUID()}:`;
const clients: Redis[] = [];
const stores: RedisStore[] = [];

beforeAll(async () => {
  // Several connections, as several gateway processes would have. The time comes from Redis.
  for (let i = 0; i < CLIENTS; i++) {
    const client = createRedisClient('redis://127.0.0.1:6379/0');
    await waitForRedisReady(client);
    clients.push(client);
    stores.push(new RedisStore({ redis: client, keyPrefix, commandTimeout: 10_000 }));
  }
});

afterAll(async () => {
  await deleteKeys(clients[0]!, `{${keyPrefix.slice(0, -1)}}:*`);
  await Promise.all(clients.map((client) => client.quit()));
});

/** Sends every request from every client at once and counts the admitted ones. */
async function admittedConcurrently(checks: readonly LimitCheck[]): Promise<number> {
  const pending: Promise<readonly { allowed: boolean }[]>[] = [];
  for (let i = 0; i < REQUESTS_PER_CLIENT; i++) {
    for (const store of stores) pending.push(store.consume(checks));
  }
  const results = await Promise.all(pending);
  return results.filter((decisions) => decisions.every((d) => d.allowed)).length;
}

describe('redis store on server time', () => {
  it.each(algorithms)('%s admits the limit concurrently', async (algorithm) => {
    const policy: LimitPolicy = { name: 'shared', algorithm, limit: 50, windowMs: HOUR };

    const admitted = await admittedConcurrently([{ policy, key: `one:${algorithm}`, cost: 1 }]);

    expect(admitted).toBeLessThanOrEqual(50);
    // Within an hour-long window nothing refills during the test, so the limit is reached.
    expect(admitted).toBe(50);
  });

  it.each(algorithms)('%s multi-limit admits the smaller limit', async (algorithm) => {
    const wide: LimitPolicy = { name: 'wide', algorithm, limit: 300, windowMs: HOUR };
    const narrow: LimitPolicy = { name: 'narrow', algorithm, limit: 40, windowMs: HOUR };
    const wideCheck = { policy: wide, key: `wide:${algorithm}`, cost: 1 };
    const narrowCheck = { policy: narrow, key: `narrow:${algorithm}`, cost: 1 };

    const admitted = await admittedConcurrently([wideCheck, narrowCheck]);
    const wideAfter = await stores[0]!.consume([wideCheck]);

    expect(admitted).toBe(40);
    // Rejected requests consumed nothing in the wide limit, under concurrency too.
    expect(wideAfter[0]!.remaining).toBe(300 - 40 - 1);
  });
});
