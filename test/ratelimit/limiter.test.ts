import { afterEach, describe, expect, it } from 'vitest';

import { ManualClock } from '../../src/core/clock.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { RateLimiter, type RateLimiterOptions } from '../../src/ratelimit/limiter.js';
import { MemoryStore } from '../../src/ratelimit/memory-store.js';
import type { Algorithm, LimitDecision } from '../../src/ratelimit/policy.js';

const limiters: RateLimiter[] = [];

function limiter(options: RateLimiterOptions): RateLimiter {
  const created = new RateLimiter(options);
  limiters.push(created);
  return created;
}

/** Consumes through a memory store, which returns the decision synchronously. */
function consume(target: RateLimiter, key: string, cost?: number): LimitDecision {
  const decision = target.consume(key, cost);
  if (decision instanceof Promise)
    throw new Error('expected a synchronous decision from the memory store');
  return decision;
}

afterEach(async () => {
  await Promise.all(limiters.splice(0).map((created) => created.close()));
});

describe('RateLimiter validation', () => {
  const invalidOptions: { name: string; options: RateLimiterOptions; value: string }[] = [
    { name: 'limit 0', options: { limit: 0, window: '1m' }, value: 'limit 0' },
    { name: 'negative limit', options: { limit: -3, window: '1m' }, value: 'limit -3' },
    { name: 'fractional limit', options: { limit: 1.5, window: '1m' }, value: 'limit 1.5' },
    { name: 'NaN limit', options: { limit: Number.NaN, window: '1m' }, value: 'limit NaN' },
    { name: 'window 0', options: { limit: 5, window: 0 }, value: 'window 0' },
    { name: 'window 0s', options: { limit: 5, window: '0s' }, value: 'window 0s' },
    { name: 'negative window', options: { limit: 5, window: -10 }, value: 'duration -10' },
    {
      name: 'window without unit',
      options: { limit: 5, window: '10 apples' },
      value: '"10 apples"',
    },
    { name: 'burst 0', options: { limit: 5, window: '1m', burst: 0 }, value: 'burst 0' },
    {
      name: 'fractional burst',
      options: { limit: 5, window: '1m', burst: 2.5 },
      value: 'burst 2.5',
    },
    {
      name: 'unknown algorithm',
      options: { limit: 5, window: '1m', algorithm: 'fixed-window' as Algorithm },
      value: 'algorithm fixed-window',
    },
    {
      name: 'bad blockFor',
      options: { limit: 5, window: '1m', blockFor: '5 min' },
      value: '"5 min"',
    },
  ];

  it.each(invalidOptions)('$name names the value', ({ options, value }) => {
    const create = () => new RateLimiter(options);

    expect(create).toThrow(InvalidArgumentError);
    expect(create).toThrow(value);
    expect(create).toThrow(expect.objectContaining({ code: 'BWK_ERR_INVALID_ARGUMENT' }));
  });

  it.each([0, -1, 2.5, Number.NaN])('cost %s names the value', (cost) => {
    const target = limiter({ limit: 5, window: '1m' });

    const attempt = () => target.consume('client', cost);

    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(`invalid cost ${cost}`);
  });
});

describe('RateLimiter.consume', () => {
  it('memory store decides synchronously', () => {
    const target = limiter({ limit: 2, window: '1s' });

    const decision = target.consume('client');

    expect(decision).not.toBeInstanceOf(Promise);
    expect(decision).toMatchObject({ policy: 'default', allowed: true, remaining: 1 });
  });

  it('cost above limit never admitted', () => {
    const target = limiter({ limit: 3, window: '1m' });

    const decision = consume(target, 'client', 4);

    expect(decision.allowed).toBe(false);
    expect(decision.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    expect(consume(target, 'client', 3).allowed).toBe(true);
  });

  it('names keep limiters apart', () => {
    const store = new MemoryStore();
    const login = limiter({ name: 'login', limit: 1, window: '1m', store });
    const api = limiter({ name: 'api', limit: 1, window: '1m', store });
    consume(login, 'alice');

    expect(consume(api, 'alice').allowed).toBe(true);
    expect(consume(login, 'alice').allowed).toBe(false);
  });

  it('blockFor and reset', () => {
    const clock = new ManualClock(1_760_000_000_000);
    const target = limiter({
      name: 'login',
      limit: 1,
      window: '1s',
      blockFor: '15m',
      store: new MemoryStore({ clock }),
    });
    consume(target, 'alice');

    expect(consume(target, 'alice').retryAfterMs).toBe(15 * 60_000);
    clock.advance(60_000);
    expect(consume(target, 'alice').blocked).toBe(true);

    target.reset('alice');
    expect(consume(target, 'alice').allowed).toBe(true);
  });

  it('30-day window with manual clock', () => {
    const clock = new ManualClock(1_760_000_000_000);
    const target = limiter({ limit: 2, window: '30d', store: new MemoryStore({ clock }) });
    consume(target, 'tenant');
    clock.advance(10 * 86_400_000);
    consume(target, 'tenant');

    const rejected = consume(target, 'tenant');

    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterMs).toBe(20 * 86_400_000);
    clock.advance(rejected.retryAfterMs);
    expect(consume(target, 'tenant').allowed).toBe(true);
  });
});
