import { randomUUID } from 'node:crypto';

import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ManualClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/ratelimit/memory-store.js';
import {
  algorithms,
  type Algorithm,
  type LimitCheck,
  type LimitDecision,
  type LimitPolicy,
  type RateLimitStore,
} from '../../src/ratelimit/policy.js';
import { RedisStore } from '../../src/ratelimit/redis-store.js';
import { createRedisClient, waitForRedisReady } from '../../src/storage/redis.js';
import { deleteKeys } from '../helpers/redis-keys.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/**
 * The Redis store takes its time from the injected clock and turns it into absolute expiry
 * times, so the clock starts a day ahead of real time: keys must not expire on the server
 * before the manual clock says so. The start is a whole day, so fixed windows begin at it.
 */
function startTime(): number {
  return (Math.floor(Date.now() / DAY) + 2) * DAY;
}

const keyPrefix = `bwk-test-${randomUUID()}:`;
let client: Redis;

beforeAll(async () => {
  client = createRedisClient('redis://127.0.0.1:6379/0');
  await waitForRedisReady(client);
});

afterAll(async () => {
  await deleteKeys(client, `{${keyPrefix.slice(0, -1)}}:*`);
  await client.quit();
});

interface StoreFactory {
  name: string;
  create(clock: ManualClock): RateLimitStore;
}

const factories: StoreFactory[] = [
  { name: 'memory', create: (clock) => new MemoryStore({ clock }) },
  {
    name: 'redis',
    create: (clock) => new RedisStore({ redis: client, keyPrefix, clock, commandTimeout: 5_000 }),
  },
];

let keyCounter = 0;

/** Returns a key no earlier test used, so tests never see each other's state. */
function freshKey(): string {
  keyCounter += 1;
  return `k${keyCounter}`;
}

function policyOf(algorithm: Algorithm, overrides: Partial<LimitPolicy> = {}): LimitPolicy {
  return { name: `p-${algorithm}`, algorithm, limit: 5, windowMs: MINUTE, ...overrides };
}

describe.each(factories)('$name store contract', (factory) => {
  let clock: ManualClock;
  let store: RateLimitStore;

  beforeEach(() => {
    clock = new ManualClock(startTime());
    store = factory.create(clock);
    return () => store.close();
  });

  async function consume(...checks: LimitCheck[]): Promise<readonly LimitDecision[]> {
    return await store.consume(checks);
  }

  async function one(check: LimitCheck): Promise<LimitDecision> {
    return (await consume(check))[0]!;
  }

  it('changed algorithm starts afresh', async () => {
    // A configuration reload can give a key another algorithm, and its old state does not apply.
    const key = freshKey();
    const log = policyOf('sliding-window-log', { limit: 1 });
    const counter = policyOf('sliding-window-counter', { limit: 1 });
    await one({ policy: log, key, cost: 1 });

    const switched = await one({ policy: counter, key, cost: 1 });
    const switchedBack = await one({ policy: log, key, cost: 1 });

    expect(switched.allowed).toBe(true);
    expect(switchedBack.allowed).toBe(true);
  });

  describe.each(algorithms)('%s', (algorithm) => {
    it('admits exactly the limit', async () => {
      const check = { policy: policyOf(algorithm), key: freshKey(), cost: 1 };
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const decision = await one(check);
        expect(decision.allowed).toBe(true);
        remaining.push(decision.remaining);
      }
      const rejected = await one(check);

      expect(remaining).toEqual([4, 3, 2, 1, 0]);
      expect(rejected.allowed).toBe(false);
      expect(rejected.remaining).toBe(0);
      expect(rejected.limit).toBe(5);
      expect(rejected.retryAfterMs).toBeGreaterThan(0);
    });

    it('admits again after retryAfter', async () => {
      const check = { policy: policyOf(algorithm), key: freshKey(), cost: 1 };
      for (let i = 0; i < 5; i++) await one(check);
      const rejected = await one(check);

      clock.advance(rejected.retryAfterMs - 1);
      const early = await one(check);
      clock.advance(1);
      const onTime = await one(check);

      expect(early.allowed).toBe(false);
      expect(onTime.allowed).toBe(true);
    });

    it('rejected request consumes no quota', async () => {
      const wide = { policy: policyOf(algorithm, { name: 'wide', limit: 10 }), key: freshKey() };
      const narrow = { policy: policyOf(algorithm, { name: 'narrow', limit: 2 }), key: freshKey() };
      await consume({ ...wide, cost: 1 }, { ...narrow, cost: 1 });
      await consume({ ...wide, cost: 1 }, { ...narrow, cost: 1 });

      const rejected = await consume({ ...wide, cost: 1 }, { ...narrow, cost: 1 });
      const wideAfter = await one({ ...wide, cost: 1 });

      expect(rejected.map((d) => d.allowed)).toEqual([true, false]);
      // The wide limit reports its quota as it is, without the rejected request's cost.
      expect(rejected[0]!.remaining).toBe(10 - 2);
      expect(wideAfter.allowed).toBe(true);
      expect(wideAfter.remaining).toBe(10 - 3);
    });

    it('limit override sets tier quota', async () => {
      const policy = policyOf(algorithm, { limit: 100 });
      const check = { policy, key: freshKey(), cost: 1, limit: 3 };
      const decisions: LimitDecision[] = [];
      for (let i = 0; i < 4; i++) decisions.push(await one(check));

      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
      expect(decisions.map((d) => d.limit)).toEqual([3, 3, 3, 3]);
    });

    it('cost above remaining is rejected whole', async () => {
      const policy = policyOf(algorithm);
      const key = freshKey();
      await one({ policy, key, cost: 3 });

      const tooMuch = await one({ policy, key, cost: 3 });
      const fits = await one({ policy, key, cost: 2 });

      expect(tooMuch.allowed).toBe(false);
      expect(tooMuch.remaining).toBe(2);
      expect(fits.allowed).toBe(true);
      expect(fits.remaining).toBe(0);
    });

    it('cost above limit never fits', async () => {
      const decision = await one({ policy: policyOf(algorithm), key: freshKey(), cost: 6 });

      expect(decision.allowed).toBe(false);
      expect(decision.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    });

    it('blockFor rejects until it ends', async () => {
      const policy = policyOf(algorithm, { limit: 2, blockForMs: 15 * MINUTE });
      const check = { policy, key: freshKey(), cost: 1 };
      await one(check);
      await one(check);

      const first = await one(check);
      clock.advance(15 * MINUTE - 1);
      const during = await one(check);
      clock.advance(1);
      const after = await one(check);

      expect(first.allowed).toBe(false);
      expect(first.blocked).toBe(false);
      expect(first.retryAfterMs).toBe(15 * MINUTE);
      expect(during.allowed).toBe(false);
      expect(during.blocked).toBe(true);
      expect(during.retryAfterMs).toBe(1);
      expect(after.allowed).toBe(true);
    });

    it('one second window refills', async () => {
      const check = { policy: policyOf(algorithm, { limit: 2, windowMs: SECOND }), cost: 1 };
      const key = freshKey();
      await one({ ...check, key });
      await one({ ...check, key });
      const rejected = await one({ ...check, key });
      clock.advance(rejected.retryAfterMs);
      const next = await one({ ...check, key });

      // The counter lets the previous window's count fade out over the next window.
      const longestWait = algorithm === 'sliding-window-counter' ? 2 * SECOND : SECOND;
      expect(rejected.allowed).toBe(false);
      expect(rejected.retryAfterMs).toBeGreaterThan(0);
      expect(rejected.retryAfterMs).toBeLessThanOrEqual(longestWait);
      expect(next.allowed).toBe(true);
    });

    it('thirty day window holds quota', async () => {
      const policy = policyOf(algorithm, { limit: 2, windowMs: 30 * DAY });
      const check = { policy, key: freshKey(), cost: 1 };
      await one(check);
      await one(check);
      clock.advance(DAY);
      const nextDay = await one(check);
      clock.advance(29 * DAY);
      const after = await one(check);

      expect(nextDay.allowed).toBe(false);
      // The counter weighs the previous window, so only the log and GCRA are whole again.
      if (algorithm !== 'sliding-window-counter') expect(after.allowed).toBe(true);
      expect(after.remaining).toBeLessThan(2);
    });

    it('reset forgets a key', async () => {
      const check = { policy: policyOf(algorithm, { limit: 1 }), key: freshKey(), cost: 1 };
      await one(check);
      await store.reset(check.key);
      const decision = await one(check);

      expect(decision.allowed).toBe(true);
    });
  });
});

/** A request sequence for the differential check: the policies, then each step's checks. */
interface Scenario {
  policies: readonly LimitPolicy[];
  steps: readonly {
    advanceMs: number;
    checks: readonly { policy: number; cost: number; limit?: number }[];
  }[];
}

interface ScenarioShape {
  algorithms: readonly Algorithm[];
  limits: { min: number; max: number };
  maxSteps: number;
}

/**
 * Random sequences of requests. Each step advances the clock by nothing, a little, a whole
 * window or up to two, then sends one to three checks, sometimes with a tier limit or a cost
 * above the limit.
 */
function scenarios({ algorithms: names, limits, maxSteps }: ScenarioShape): fc.Arbitrary<Scenario> {
  const policy = fc.record(
    {
      algorithm: fc.constantFrom(...names),
      limit: fc.integer(limits),
      windowMs: fc.oneof(
        fc.constantFrom(SECOND, MINUTE, 30 * DAY),
        fc.integer({ min: SECOND, max: 10 * SECOND }),
      ),
      burst: fc.option(fc.integer({ min: 1, max: limits.max + 8 }), { nil: undefined }),
      blockForMs: fc.option(fc.constantFrom(500, 5 * SECOND, MINUTE), { nil: undefined }),
    },
    { requiredKeys: ['algorithm', 'limit', 'windowMs'] },
  );

  return fc.array(policy, { minLength: 1, maxLength: 3 }).chain((drafts) => {
    const policies = drafts.map((draft, i) => ({ ...draft, name: `p${i}` }));
    const smallestWindow = Math.min(...policies.map((p) => p.windowMs));
    const check = fc.record(
      {
        policy: fc.integer({ min: 0, max: policies.length - 1 }),
        cost: fc.oneof(
          { arbitrary: fc.constant(1), weight: 4 },
          { arbitrary: fc.integer({ min: 1, max: limits.max + 2 }), weight: 1 },
        ),
        limit: fc.integer(limits),
      },
      { requiredKeys: ['policy', 'cost'] },
    );
    const step = fc.record({
      advanceMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 300 }),
        fc.constant(smallestWindow),
        fc.integer({ min: 0, max: 2 * smallestWindow }),
        fc.constantFrom(...policies.map((p) => p.windowMs)),
      ),
      checks: fc.uniqueArray(check, {
        minLength: 1,
        maxLength: policies.length,
        selector: (c) => c.policy,
      }),
    });
    return fc.record({
      policies: fc.constant(policies),
      steps: fc.array(step, { minLength: 1, maxLength: maxSteps }),
    });
  });
}

describe('memory and redis stores agree', () => {
  let clock: ManualClock;
  let memory: MemoryStore;
  let redis: RedisStore;
  let run = 0;

  beforeAll(() => {
    clock = new ManualClock(startTime() + 12_345);
    memory = new MemoryStore({ clock });
    redis = new RedisStore({ redis: client, keyPrefix, clock, commandTimeout: 5_000 });
  });

  afterAll(() => memory.close());

  /** Sends each step to both stores and compares every decision field. */
  async function compare({ policies, steps }: Scenario): Promise<void> {
    run += 1;
    for (const [index, step] of steps.entries()) {
      clock.advance(step.advanceMs);
      const checks: LimitCheck[] = step.checks.map((c) => ({
        policy: policies[c.policy]!,
        key: `diff-${run}:${c.policy}`,
        cost: c.cost,
        limit: c.limit,
      }));
      const expected = memory.consume(checks);
      const actual = await redis.consume(checks);
      expect(actual, `step ${index}`).toEqual(expected);
    }

    // Every key the sequence left behind expires: PTTL is -1 for a key without expiry.
    for (const index of policies.keys()) {
      const key = `diff-${run}:${index}`;
      expect(await client.pttl(redis.statePrefix + key)).not.toBe(-1);
      expect(await client.pttl(redis.logPrefix + key)).not.toBe(-1);
    }
  }

  it('same decisions for random sequences', async () => {
    const arbitrary = scenarios({ algorithms, limits: { min: 1, max: 12 }, maxSteps: 40 });
    await fc.assert(fc.asyncProperty(arbitrary, compare), { numRuns: 300 });
  });

  it('same decisions for long logs', async () => {
    await fc.assert(fc.asyncProperty(longLogScenarios, compare), { numRuns: 60 });
  });
});

/**
 * One sliding-window log that first fills up with small requests, then gets large costs and
 * jumps of most of a window, so the script trims and walks more entries than it reads in one
 * batch (32).
 */
const longLogScenarios: fc.Arbitrary<Scenario> = fc
  .record({ limit: fc.integer({ min: 40, max: 150 }), windowMs: fc.constantFrom(SECOND, MINUTE) })
  .chain(({ limit, windowMs }) => {
    const shortGap = fc.integer({ min: 0, max: Math.floor(windowMs / (2 * limit)) });
    const fill = fc.record({
      advanceMs: shortGap,
      checks: fc.constant([{ policy: 0, cost: 1 }]),
    });
    const step = fc.record({
      advanceMs: fc.oneof(
        { arbitrary: shortGap, weight: 20 },
        { arbitrary: fc.integer({ min: windowMs / 2, max: windowMs + 1 }), weight: 1 },
      ),
      checks: fc.tuple(
        fc.record({
          policy: fc.constant(0),
          cost: fc.oneof(
            { arbitrary: fc.constant(1), weight: 3 },
            { arbitrary: fc.integer({ min: Math.floor(limit / 2), max: limit + 1 }), weight: 1 },
          ),
        }),
      ),
    });
    return fc.record({
      policies: fc.constant([
        { name: 'p0', algorithm: 'sliding-window-log' as const, limit, windowMs },
      ]),
      steps: fc
        .tuple(
          fc.array(fill, { minLength: limit, maxLength: limit }),
          fc.array(step, { minLength: 1, maxLength: 150 }),
        )
        .map(([filling, rest]) => [...filling, ...rest]),
    });
  });

describe('redis key expiry', () => {
  let store: RedisStore;

  beforeAll(() => {
    store = new RedisStore({ redis: client, keyPrefix, commandTimeout: 5_000 });
  });

  async function ttlOf(key: string): Promise<number> {
    return await client.pttl(key);
  }

  it('log keys expire within window', async () => {
    const key = freshKey();
    await store.consume([{ policy: policyOf('sliding-window-log'), key, cost: 1 }]);

    const stateTtl = await ttlOf(store.statePrefix + key);
    const logTtl = await ttlOf(store.logPrefix + key);

    expect(stateTtl).toBeGreaterThan(0);
    expect(stateTtl).toBeLessThanOrEqual(MINUTE);
    // The list outlives its state by at most a minute, so busy keys refresh it rarely.
    expect(logTtl).toBeGreaterThanOrEqual(stateTtl);
    expect(logTtl).toBeLessThanOrEqual(2 * MINUTE);
  });

  it('recreated log list gets expiry', async () => {
    const clock = new ManualClock(startTime());
    const manual = new RedisStore({ redis: client, keyPrefix, clock, commandTimeout: 5_000 });
    const policy = policyOf('sliding-window-log', {
      limit: 1,
      windowMs: SECOND,
      blockForMs: 10 * MINUTE,
    });
    const key = freshKey();
    await manual.consume([{ policy, key, cost: 1 }]);
    // The block keeps the state, and the list with it, long after the entry expires.
    await manual.consume([{ policy, key, cost: 1 }]);

    // The list is trimmed away and created again by this request, before its old expiry.
    clock.advance(10 * MINUTE);
    await manual.consume([{ policy, key, cost: 1 }]);
    const logTtl = await ttlOf(store.logPrefix + key);

    expect(await client.llen(store.logPrefix + key)).toBe(1);
    expect(logTtl).toBeGreaterThan(0);
  });

  it('counter keys expire within two windows', async () => {
    const key = freshKey();
    await store.consume([{ policy: policyOf('sliding-window-counter'), key, cost: 1 }]);

    const ttl = await ttlOf(store.statePrefix + key);

    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2 * MINUTE);
  });

  it('gcra keys expire within window', async () => {
    const key = freshKey();
    await store.consume([{ policy: policyOf('gcra'), key, cost: 5 }]);

    const ttl = await ttlOf(store.statePrefix + key);

    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(MINUTE);
  });

  it('blocked keys expire with block', async () => {
    const policy = policyOf('gcra', { limit: 1, windowMs: SECOND, blockForMs: 30 * DAY });
    const key = freshKey();
    await store.consume([{ policy, key, cost: 1 }]);
    await store.consume([{ policy, key, cost: 1 }]);

    const ttl = await ttlOf(store.statePrefix + key);

    expect(ttl).toBeGreaterThan(30 * DAY - MINUTE);
    expect(ttl).toBeLessThanOrEqual(30 * DAY);
  });

  it('keys share one hash tag', () => {
    expect(store.statePrefix).toBe(`{${keyPrefix.slice(0, -1)}}:rl:`);
    expect(store.logPrefix).toBe(`{${keyPrefix.slice(0, -1)}}:rl-log:`);
  });
});
