import type { PolicyConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import { FailoverStore } from '../ratelimit/failover-store.js';
import { MemoryStore } from '../ratelimit/memory-store.js';
import type { RateLimitStore } from '../ratelimit/policy.js';
import { RedisStore } from '../ratelimit/redis-store.js';

export interface StoreDeps {
  bus: EventBus;
  logger: Logger;
}

/**
 * Chooses the rate-limit store: memory by default; with `storage.redis`, Redis behind a
 * failover store that applies `storage.onRedisFailure` while Redis is unreachable.
 */
export function createRateLimitStore(
  storage: PolicyConfig['storage'],
  deps: StoreDeps,
): RateLimitStore {
  if (storage.redis === undefined) return new MemoryStore();
  const redis = new RedisStore({
    redis: storage.redis,
    keyPrefix: storage.keyPrefix,
    commandTimeout: storage.commandTimeout,
    client: { logger: deps.logger },
  });
  return new FailoverStore({
    redis,
    mode: storage.onRedisFailure,
    expectedInstances: storage.expectedInstances,
    events: deps.bus,
    logger: deps.logger,
  });
}
