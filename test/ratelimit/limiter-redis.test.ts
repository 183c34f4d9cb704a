import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { RateLimiter } from '../../src/ratelimit/limiter.js';
import { RedisStore } from '../../src/ratelimit/redis-store.js';
import { deleteKeys } from '../helpers/redis-keys.js';

const prefix = `test-limiter-${randomUUID()}:`;
const admin = new Redis('redis://127.0.0.1:6379/0');

afterAll(async () => {
  await deleteKeys(admin, `{${prefix.slice(0, -1)}}*`);
  admin.disconnect();
});

describe('RateLimiter on Redis', () => {
  it('shares one limit between two limiters', async () => {
    const stores = [0, 1].map(
      () =>
        new RedisStore({
          redis: 'redis://127.0.0.1:6379/0',
          keyPrefix: prefix,
          commandTimeout: 2_000,
        }),
    );
    const limiters = stores.map((store) => new RateLimiter({ limit: 5, window: '1m', store }));

    const decisions = await Promise.all(
      Array.from({ length: 12 }, (_, i) => limiters[i % 2]!.consume('user:42')),
    );

    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
    const rejected = decisions.filter((decision) => !decision.allowed);
    expect(rejected).toHaveLength(7);
    for (const decision of rejected) expect(decision.retryAfterMs).toBeGreaterThan(0);
    await Promise.all(limiters.map((limiter) => limiter.close()));
  });

  it('reset frees the key on Redis', async () => {
    const store = new RedisStore({
      redis: 'redis://127.0.0.1:6379/0',
      keyPrefix: prefix,
      commandTimeout: 2_000,
    });
    const limiter = new RateLimiter({ limit: 1, window: '1h', store });

    expect((await limiter.consume('login:ada')).allowed).toBe(true);
    expect((await limiter.consume('login:ada')).allowed).toBe(false);
    await limiter.reset('login:ada');
    expect((await limiter.consume('login:ada')).allowed).toBe(true);
    await limiter.close();
  });
});
