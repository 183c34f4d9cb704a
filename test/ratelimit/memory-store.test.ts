import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { ManualClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/ratelimit/memory-store.js';
import {
  algorithms,
  type Algorithm,
  type LimitCheck,
  type LimitPolicy,
} from '../../src/ratelimit/policy.js';
import { LogModel } from './models.js';

const SECOND = 1_000;
const DAY = 86_400_000;
const START = 1_760_000_000_000;

function policy(
  name: string,
  limit: number,
  windowMs: number,
  extra: Partial<LimitPolicy> = {},
): LimitPolicy {
  return { name, algorithm: 'sliding-window-log', limit, windowMs, ...extra };
}

function check(limitPolicy: LimitPolicy, key = 'client', cost = 1): LimitCheck {
  return { policy: limitPolicy, key: `${limitPolicy.name}:${key}`, cost };
}

const stores: MemoryStore[] = [];

function storeAt(clock: ManualClock, options: { maxKeys?: number } = {}): MemoryStore {
  const store = new MemoryStore({ clock, ...options });
  stores.push(store);
  return store;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

describe('multi-limit atomicity', () => {
  it('rejection consumes no other limit', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const wide = policy('wide', 5, 60 * SECOND);
    const narrow = policy('narrow', 1, 60 * SECOND);
    store.consume([check(wide), check(narrow)]);

    const [wideDecision, narrowDecision] = store.consume([check(wide), check(narrow)]);

    expect(narrowDecision!.allowed).toBe(false);
    expect(wideDecision!.remaining).toBe(4);
    // The rejected request took nothing from the wide limit, so one more request leaves 3.
    expect(store.consume([check(wide)])[0]!.remaining).toBe(3);
  });

  const unconsumed: {
    algorithm: Algorithm;
    atMs: number;
    remaining: number;
    resetMs: number;
  }[] = [
    // One entry, one second old: the quota is full when it leaves the window.
    { algorithm: 'sliding-window-log', atMs: SECOND, remaining: 4, resetMs: 9 * SECOND },
    // The count is now the previous window's, weighted 0.8: 8 s of that window still overlap.
    { algorithm: 'sliding-window-counter', atMs: 12 * SECOND, remaining: 4, resetMs: 8 * SECOND },
    // One unit of 2 s emitted, 1 s of it still pending.
    { algorithm: 'gcra', atMs: SECOND, remaining: 4, resetMs: SECOND },
  ];

  it.each(unconsumed)(
    '$algorithm reports quota without rejected cost',
    ({ algorithm, atMs, remaining, resetMs }) => {
      const clock = new ManualClock(START);
      const store = storeAt(clock);
      const wide = policy('wide', 5, 10 * SECOND, { algorithm });
      const narrow = policy('narrow', 1, 60 * SECOND);
      store.consume([check(wide), check(narrow)]);
      clock.advance(atMs);

      const [wideDecision, narrowDecision] = store.consume([check(wide), check(narrow)]);

      expect(narrowDecision!.allowed).toBe(false);
      expect(wideDecision!.allowed).toBe(true);
      expect(wideDecision!.remaining).toBe(remaining);
      expect(wideDecision!.resetMs).toBe(resetMs);
      expect(wideDecision!.retryAfterMs).toBe(0);
    },
  );

  it('cost above remaining consumes nothing', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const limit = policy('api', 10, SECOND);
    store.consume([check(limit, 'client', 7)]);

    const rejected = store.consume([check(limit, 'client', 4)])[0]!;

    expect(rejected.allowed).toBe(false);
    expect(rejected.remaining).toBe(3);
    expect(store.consume([check(limit, 'client', 3)])[0]!.allowed).toBe(true);
  });

  it('matches per-key log models', () => {
    const policies = [policy('a', 3, 1_000), policy('b', 5, 250), policy('c', 2, 5_000)];
    const request = fc.record({
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.constant(1_000)),
      limits: fc.subarray([0, 1, 2], { minLength: 1 }),
      cost: fc.integer({ min: 1, max: 3 }),
      sweep: fc.boolean(),
    });

    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 80 }), (requests) => {
        const clock = new ManualClock(START);
        const store = new MemoryStore({ clock });
        const models = policies.map((p) => new LogModel(p.limit, p.windowMs));

        for (const { gap, limits, cost, sweep } of requests) {
          clock.advance(gap);
          // Sweeping only removes expired state, so it never changes a decision.
          if (sweep) store.sweep();
          const now = clock.now();
          const expected = limits.every((i) => models[i]!.used(now) + cost <= policies[i]!.limit);
          if (expected) for (const i of limits) models[i]!.request(now, cost);

          const decisions = store.consume(limits.map((i) => check(policies[i]!, 'k', cost)));

          expect(decisions.every((decision) => decision.allowed)).toBe(expected);
        }
        void store.close();
      }),
    );
  });
});

describe('blockFor', () => {
  const login = policy('login', 2, SECOND, { blockForMs: 10 * SECOND });

  it('keeps the key rejected', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    store.consume([check(login)]);
    store.consume([check(login)]);

    const first = store.consume([check(login)])[0]!;
    expect(first.allowed).toBe(false);
    expect(first.blocked).toBe(false);
    expect(first.retryAfterMs).toBe(10 * SECOND);

    // The window has long passed, but the block has not.
    clock.advance(4 * SECOND);
    const during = store.consume([check(login)])[0]!;
    expect(during.allowed).toBe(false);
    expect(during.blocked).toBe(true);
    expect(during.retryAfterMs).toBe(6 * SECOND);

    clock.advance(6 * SECOND - 1);
    expect(store.consume([check(login)])[0]!.allowed).toBe(false);
    clock.advance(1);
    expect(store.consume([check(login)])[0]!.allowed).toBe(true);
  });

  it('blocked key consumes no other limit', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const perIp = policy('ip', 100, 60 * SECOND);
    for (let i = 0; i < 3; i++) store.consume([check(perIp), check(login)]);

    const blocked = store.consume([check(perIp), check(login)]);

    expect(blocked[1]!.blocked).toBe(true);
    expect(store.consume([check(perIp)])[0]!.remaining).toBe(97);
  });

  it('not started by another rejection', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const exhausted = policy('route', 1, 60 * SECOND);
    store.consume([check(exhausted)]);

    const decisions = store.consume([check(login), check(exhausted)]);

    expect(decisions[0]!.allowed).toBe(true);
    expect(decisions[0]!.retryAfterMs).toBe(0);
    expect(store.consume([check(login)])[0]!.allowed).toBe(true);
  });
});

describe('long and short windows', () => {
  const cases: { algorithm: Algorithm; retryAfterMs: number }[] = [
    // The log frees the five units when the first entry leaves, one window later.
    { algorithm: 'sliding-window-log', retryAfterMs: 30 * DAY },
    // The counter waits for the next fixed window, then for a fifth of it to fade.
    { algorithm: 'sliding-window-counter', retryAfterMs: 36 * DAY },
    // GCRA refills one unit every 30 / 5 days.
    { algorithm: 'gcra', retryAfterMs: 6 * DAY },
  ];

  it.each(cases)('$algorithm holds a 30-day window', ({ algorithm, retryAfterMs }) => {
    // A multiple of the window, so the counter's fixed window starts here.
    const clock = new ManualClock(30 * DAY * 700);
    const store = storeAt(clock);
    const monthly = policy('monthly', 5, 30 * DAY, { algorithm });
    for (let i = 0; i < 5; i++) expect(store.consume([check(monthly)])[0]!.allowed).toBe(true);

    const rejected = store.consume([check(monthly)])[0]!;
    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterMs).toBe(retryAfterMs);

    clock.advance(retryAfterMs - 1);
    expect(store.sweep()).toBe(0);
    expect(store.consume([check(monthly)])[0]!.allowed).toBe(false);
    clock.advance(1);
    expect(store.consume([check(monthly)])[0]!.allowed).toBe(true);
  });

  it.each(cases)('$algorithm refills a 1-second window', ({ algorithm }) => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const perSecond = policy('second', 4, SECOND, { algorithm });
    for (let i = 0; i < 4; i++) store.consume([check(perSecond)]);
    expect(store.consume([check(perSecond)])[0]!.allowed).toBe(false);

    clock.advance(2 * SECOND);

    for (let i = 0; i < 4; i++) expect(store.consume([check(perSecond)])[0]!.allowed).toBe(true);
  });
});

describe('expiry', () => {
  it('sweep removes only expired keys', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    store.consume([check(policy('short', 5, SECOND), 'a')]);
    store.consume([check(policy('long', 5, 30 * DAY), 'a')]);
    store.consume([check(policy('gcra', 5, SECOND, { algorithm: 'gcra' }), 'a')]);
    expect(store.size).toBe(3);

    clock.advance(SECOND);

    expect(store.sweep()).toBe(2);
    expect(store.size).toBe(1);
  });

  it('sweep timer removes expired keys', () => {
    vi.useFakeTimers();
    const clock = new ManualClock(START);
    const store = new MemoryStore({ clock, sweepIntervalMs: 5 * SECOND });
    stores.push(store);
    store.consume([check(policy('short', 5, SECOND))]);

    clock.advance(SECOND);
    expect(store.size).toBe(1);
    vi.advanceTimersByTime(5 * SECOND);

    expect(store.size).toBe(0);
  });

  it('expired key starts afresh', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const limit = policy('api', 2, SECOND);
    store.consume([check(limit)]);
    store.consume([check(limit)]);

    clock.advance(SECOND);

    expect(store.consume([check(limit)])[0]!.remaining).toBe(1);
  });
});

describe('maxKeys', () => {
  const limit = policy('api', 1, 60 * SECOND);

  it('evicts the oldest live key', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock, { maxKeys: 2 });
    for (const key of ['a', 'b', 'c']) store.consume([check(limit, key)]);

    expect(store.size).toBe(2);
    expect(store.consume([check(limit, 'a')])[0]!.allowed).toBe(true);
    expect(store.consume([check(limit, 'c')])[0]!.allowed).toBe(false);
  });

  it('evicts expired keys first', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock, { maxKeys: 2 });
    store.consume([check(policy('short', 1, SECOND), 'a')]);
    store.consume([check(limit, 'b')]);
    clock.advance(SECOND);

    store.consume([check(limit, 'c')]);

    expect(store.size).toBe(2);
    expect(store.consume([check(limit, 'b')])[0]!.allowed).toBe(false);
  });

  it('keeps keys of the request', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock, { maxKeys: 2 });
    store.consume([check(limit, 'old')]);
    store.consume([check(limit, 'other')]);

    // Both keys are new: making room for the second must not drop the first.
    expect(store.consume([check(limit, 'x'), check(limit, 'y')]).map((d) => d.allowed)).toEqual([
      true,
      true,
    ]);
    expect(store.consume([check(limit, 'x')])[0]!.allowed).toBe(false);
    expect(store.consume([check(limit, 'y')])[0]!.allowed).toBe(false);
  });

  it('keeps an old key of the request', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock, { maxKeys: 2 });
    const wide = policy('wide', 2, 60 * SECOND);
    store.consume([check(wide, 'p')]);
    store.consume([check(limit, 'q')]);

    // 'p' is the oldest key; the new key beside it in this request must evict 'q' instead.
    store.consume([check(wide, 'p'), check(limit, 'new')]);

    expect(store.consume([check(wide, 'p')])[0]!.allowed).toBe(false);
  });
});

describe('store behaviour', () => {
  it.each(algorithms)('consumeOne matches consume for %s', (algorithm) => {
    const clock = new ManualClock(START);
    const single = storeAt(clock);
    const batch = storeAt(clock);
    const limit = policy('one', 3, 10 * SECOND, { algorithm, blockForMs: 5 * SECOND });

    // Admitted, rejected, blocked, then admitted again after the block, with a tier limit.
    const outcomes: string[] = [];
    for (const advanceMs of [0, 0, 0, 0, SECOND, 5 * SECOND, 10 * SECOND, 0]) {
      clock.advance(advanceMs);
      const fromOne = single.consumeOne(limit, 'one:client', 1, 2);
      const [fromBatch] = batch.consume([{ ...check(limit), limit: 2 }]);

      expect(fromOne).toEqual(fromBatch);
      if (fromOne.blocked) outcomes.push('blocked');
      else if (fromOne.allowed) outcomes.push('admitted');
      else outcomes.push('rejected');
    }
    expect(outcomes.slice(0, 4)).toEqual(['admitted', 'admitted', 'rejected', 'blocked']);
    expect(outcomes[6]).toBe('admitted');
  });

  it('limit override applies per check', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const limit = policy('plan', 5, 60 * SECOND);

    const decision = store.consume([{ ...check(limit), limit: 2 }])[0]!;

    expect(decision.limit).toBe(2);
    expect(decision.remaining).toBe(1);
  });

  it('algorithm change starts afresh', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const log = policy('api', 1, 60 * SECOND);
    store.consume([check(log)]);

    const decision = store.consume([check({ ...log, algorithm: 'gcra' })])[0]!;

    expect(decision.allowed).toBe(true);
  });

  it('reset forgets a key', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const limit = policy('login', 1, 60 * SECOND);
    store.consume([check(limit)]);

    store.reset('login:client');

    expect(store.consume([check(limit)])[0]!.allowed).toBe(true);
  });

  it('decision fields agree with verdict', () => {
    const clock = new ManualClock(START);
    const store = storeAt(clock);
    const limit = policy('api', 3, 10 * SECOND);
    store.consume([check(limit)]);
    clock.advance(2 * SECOND);

    const allowed = store.consume([check(limit)])[0]!;
    expect(allowed).toEqual({
      policy: 'api',
      allowed: true,
      limit: 3,
      remaining: 1,
      resetMs: 10 * SECOND,
      retryAfterMs: 0,
      blocked: false,
    });

    store.consume([check(limit)]);
    const rejected = store.consume([check(limit)])[0]!;
    expect(rejected).toEqual({
      policy: 'api',
      allowed: false,
      limit: 3,
      remaining: 0,
      resetMs: 10 * SECOND,
      retryAfterMs: 8 * SECOND,
      blocked: false,
    });
  });

  it('close forgets every key', async () => {
    const store = new MemoryStore({ clock: new ManualClock(START) });
    store.consume([check(policy('api', 1, SECOND))]);

    await store.close();

    expect(store.size).toBe(0);
  });
});
