import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/core/errors.js';
import { isPromise } from '../../src/core/guard.js';
import { createLogger } from '../../src/core/logger.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import {
  FailoverStore,
  type FailoverState,
  type RedisFailureMode,
} from '../../src/ratelimit/failover-store.js';
import type { LimitCheck, LimitDecision, LimitPolicy } from '../../src/ratelimit/policy.js';
import { RedisStore } from '../../src/ratelimit/redis-store.js';
import { waitForRedisReady } from '../../src/storage/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { unusedPort } from '../helpers/upstream.js';

const policy: LimitPolicy = {
  name: 'api',
  algorithm: 'sliding-window-log',
  limit: 10,
  windowMs: 60_000,
};
const check: LimitCheck = { policy, key: 'api:client', cost: 1 };

let server: RedisServer;
let store: FailoverStore | undefined;
let events: SecurityEvent[];

beforeEach(async () => {
  server = await RedisServer.start();
});

afterEach(async () => {
  await store?.close();
  store = undefined;
  await server.kill();
});

/** Creates a failover store on the test's own server and records the events it publishes. */
async function failoverStore(mode: RedisFailureMode): Promise<FailoverStore> {
  const redis = new RedisStore({
    redis: server.url,
    keyPrefix: `bwk-test-${randomUUID()}:`,
    commandTimeout: 500,
    client: { maxReconnectDelayMs: 100 },
  });
  await waitForRedisReady(redis.client);
  const bus = new EventBus();
  events = [];
  bus.subscribe((event) => events.push(event));
  const failover = new FailoverStore({
    redis,
    mode,
    expectedInstances: 3,
    events: bus,
    probeIntervalMs: 50,
  });
  store = failover;
  return failover;
}

function nextState(target: FailoverStore, wanted: FailoverState): Promise<void> {
  if (target.state === wanted) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = target.onStateChange((state) => {
      if (state !== wanted) return;
      stop();
      resolve();
    });
  });
}

async function consumeTimes(target: FailoverStore, count: number): Promise<LimitDecision[]> {
  const decisions: LimitDecision[] = [];
  for (let i = 0; i < count; i++) decisions.push((await target.consume([check]))[0]!);
  return decisions;
}

function eventTypes(): string[] {
  return events.map((event) => event.type);
}

describe('failover store', () => {
  it('falls back when Redis dies', async () => {
    const failover = await failoverStore('fallback');
    const before = await consumeTimes(failover, 2);

    await server.kill();
    const during = await consumeTimes(failover, 5);

    expect(before.map((d) => d.limit)).toEqual([10, 10]);
    expect(failover.state).toBe('degraded');
    // The local share is ceil(10 / 3) = 4 per instance.
    expect(during.map((d) => d.limit)).toEqual([4, 4, 4, 4, 4]);
    expect(during.map((d) => d.allowed)).toEqual([true, true, true, true, false]);
    expect(eventTypes()).toEqual(['ratelimit.store_degraded']);
    expect(events[0]!.category).toBe('system');
    expect(events[0]!.severity).toBe('high');
  });

  it('decides locally while degraded', async () => {
    const failover = await failoverStore('fallback');
    await server.kill();
    await consumeTimes(failover, 1);

    const result = failover.consume([check]);

    expect(isPromise(result)).toBe(false);
    expect(failover.kind).toBe('memory');
  });

  it('returns to Redis after restart', async () => {
    const failover = await failoverStore('fallback');
    await server.kill();
    await consumeTimes(failover, 1);
    const changes: FailoverState[] = [];
    failover.onStateChange((state) => changes.push(state));

    await server.restart();
    await nextState(failover, 'redis');
    const after = await consumeTimes(failover, 1);

    expect(changes).toEqual(['redis']);
    expect(eventTypes()).toEqual(['ratelimit.store_degraded', 'ratelimit.store_recovered']);
    expect(events[1]!.severity).toBe('info');
    // The restarted server is empty, and the decision comes from it with the shared limit.
    expect(after[0]!.limit).toBe(10);
    expect(after[0]!.remaining).toBe(9);
    expect(failover.degradedCount).toBe(1);
  });

  it('invalid check does not degrade', async () => {
    const failover = await failoverStore('fallback');

    const failure = await Promise.resolve(failover.consume([{ ...check, cost: -1 }])).catch(
      (e: unknown) => e,
    );

    expect(failure).toBeInstanceOf(InvalidArgumentError);
    expect(failover.state).toBe('redis');
    expect(events).toEqual([]);
  });

  it('logs hide the Redis password', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const redis = new RedisStore({
      redis: server.url.replace('redis://', 'redis://:hunter2@'),
      commandTimeout: 500,
    });
    await waitForRedisReady(redis.client);
    store = new FailoverStore({ redis, logger });

    await server.kill();
    await store.consume([check]);
    const output = lines.join('');

    expect(output).toContain('Redis unavailable');
    expect(output).toContain(':***@127.0.0.1');
    expect(output).not.toContain('hunter2');
  });

  it('first connection is no outage', async () => {
    const redis = new RedisStore({ redis: server.url, keyPrefix: `bwk-test-${randomUUID()}:` });
    const bus = new EventBus();
    events = [];
    bus.subscribe((event) => events.push(event));
    store = new FailoverStore({ redis, events: bus });

    const early = await store.consume([check]);
    await waitForRedisReady(redis.client);
    const connected = await store.consume([check]);

    expect(early[0]!.allowed).toBe(true);
    expect(connected[0]!.allowed).toBe(true);
    expect(events).toEqual([]);
    expect(store.state).toBe('redis');
    expect(store.degradedCount).toBe(0);
  });

  it('Redis down at start degrades', async () => {
    const redis = new RedisStore({ redis: `redis://127.0.0.1:${await unusedPort()}/0` });
    const bus = new EventBus();
    events = [];
    bus.subscribe((event) => events.push(event));
    const failover = new FailoverStore({ redis, events: bus });
    store = failover;

    await nextState(failover, 'degraded');
    const decisions = await failover.consume([check]);

    expect(decisions[0]!.allowed).toBe(true);
    expect(eventTypes()).toEqual(['ratelimit.store_degraded']);
  });

  it('open mode admits everything', async () => {
    const failover = await failoverStore('open');
    await server.kill();

    const during = await consumeTimes(failover, 15);

    expect(during.every((d) => d.allowed)).toBe(true);
    expect(failover.kind).toBe('fail-open');
    expect(eventTypes()).toEqual(['ratelimit.store_degraded']);
  });

  it('closed mode rejects everything', async () => {
    const failover = await failoverStore('closed');
    await server.kill();

    const during = await consumeTimes(failover, 3);

    expect(during.every((d) => !d.allowed)).toBe(true);
    expect(during.every((d) => d.retryAfterMs > 0)).toBe(true);
    expect(failover.kind).toBe('fail-closed');
  });

  it('slow Redis falls back and recovers', async () => {
    const failover = await failoverStore('fallback');
    const admin = new Redis(server.url);
    await admin.client('PAUSE', 1_500, 'ALL');

    const during = await consumeTimes(failover, 1);
    const stateDuring = failover.state;
    await nextState(failover, 'redis');
    await admin.quit();

    expect(during[0]!.limit).toBe(4);
    expect(stateDuring).toBe('degraded');
    // The connection never dropped, so only the probe can have seen Redis reply again.
    expect(eventTypes()).toEqual(['ratelimit.store_degraded', 'ratelimit.store_recovered']);
    expect(events[1]!.details.reason).toBe('probe answered');
  });
});
