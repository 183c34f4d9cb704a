import { randomUUID } from 'node:crypto';
import { once } from 'node:events';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidArgumentError, StoreUnavailableError } from '../../src/core/errors.js';
import type { LimitPolicy } from '../../src/ratelimit/policy.js';
import { RedisStore } from '../../src/ratelimit/redis-store.js';
import { createRedisClient, waitForRedisReady } from '../../src/storage/redis.js';
import { RedisServer } from '../helpers/redis-server.js';

const policy: LimitPolicy = {
  name: 'api',
  algorithm: 'sliding-window-counter',
  limit: 5,
  windowMs: 60_000,
};

describe('redis store keys', () => {
  it('default prefix is one hash tag', () => {
    const client = createRedisClient('redis://127.0.0.1:6379/0');
    const store = new RedisStore({ redis: client });

    expect(store.statePrefix).toBe('{bwk}:rl:');
    expect(store.logPrefix).toBe('{bwk}:rl-log:');
    client.disconnect();
  });

  it('hashTag option sets the tag', () => {
    const client = createRedisClient('redis://127.0.0.1:6379/0');
    const tagged = new RedisStore({ redis: client, keyPrefix: 'app:', hashTag: 'eu' });
    const untagged = new RedisStore({ redis: client, keyPrefix: 'app:', hashTag: false });

    expect(tagged.statePrefix).toBe('app:{eu}:rl:');
    expect(untagged.statePrefix).toBe('app:rl:');
    client.disconnect();
  });

  it('braces in prefix are rejected', () => {
    const client = createRedisClient('redis://127.0.0.1:6379/0');

    expect(() => new RedisStore({ redis: client, keyPrefix: '{app}:' })).toThrow(/BWK_ERR|braces/);
    expect(() => new RedisStore({ redis: client, keyPrefix: ':' })).toThrow(/hash tag/);
    client.disconnect();
  });

  it('invalid URL is rejected', () => {
    expect(() => createRedisClient('http://127.0.0.1:6379')).toThrow(/invalid Redis URL/);
  });
});

describe('redis store connection', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await server.kill();
  });

  it('slow reply fails with store code', async () => {
    const store = new RedisStore({ redis: server.url, commandTimeout: 100 });
    await waitForRedisReady(store.client);
    const admin = new Redis(server.url);
    await admin.client('PAUSE', 500, 'ALL');

    const failure = await store.consume([{ policy, key: 'slow', cost: 1 }]).catch((e) => e);
    await admin.quit();
    await store.close();

    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(failure.code).toBe('BWK_ERR_STORE_UNAVAILABLE');
    expect(failure.message).toContain('timed out after 100 ms');
  });

  it('dead server fails without waiting', async () => {
    const other = await RedisServer.start();
    const store = new RedisStore({ redis: other.url, commandTimeout: 0 });
    await waitForRedisReady(store.client);
    await other.kill();

    // With no deadline, only the client's fail-fast settings can end this call.
    const failure = await store.consume([{ policy, key: 'dead', cost: 1 }]).catch((e) => e);
    await store.close();

    expect(failure).toBeInstanceOf(StoreUnavailableError);
  });

  it('non-integer cost is rejected', async () => {
    const store = new RedisStore({ redis: server.url });
    await waitForRedisReady(store.client);

    const failure = await store.consume([{ policy, key: 'free', cost: 0.5 }]).catch((e) => e);
    await store.close();

    expect(failure).toBeInstanceOf(InvalidArgumentError);
    expect(failure.code).toBe('BWK_ERR_INVALID_ARGUMENT');
  });

  it('close keeps a passed client open', async () => {
    const client = createRedisClient(server.url);
    await waitForRedisReady(client);
    const store = new RedisStore({ redis: client, keyPrefix: `bwk-test-${randomUUID()}:` });

    await store.close();
    const pong = await client.ping();
    await client.quit();

    expect(pong).toBe('PONG');
  });

  it('close quits a client it created', async () => {
    const store = new RedisStore({ redis: server.url });
    await waitForRedisReady(store.client);
    const ended = once(store.client, 'end');

    await store.close();
    await ended;

    expect(store.client.status).toBe('end');
  });
});
