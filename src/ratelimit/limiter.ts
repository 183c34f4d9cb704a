import { parseDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import { isPromise } from '../core/guard.js';
import { MemoryStore } from './memory-store.js';
import {
  algorithms,
  type Algorithm,
  type LimitDecision,
  type LimitPolicy,
  type RateLimitStore,
} from './policy.js';

export interface RateLimiterOptions {
  name?: string;
  limit: number;
  /** Window as a duration string (`1m`, `30d`) or milliseconds. */
  window: string | number;
  algorithm?: Algorithm;
  burst?: number;
  blockFor?: string | number;
  /** Defaults to a new in-memory store. */
  store?: RateLimitStore;
}

/**
 * A standalone limiter for code that wants only rate limiting:
 *
 * ```ts
 * const limiter = new RateLimiter({ limit: 10, window: '1m' });
 * const decision = await limiter.consume(`login:${ip}`);
 * if (!decision.allowed) reply(429, decision.retryAfterMs);
 * ```
 *
 * With the memory store `consume` returns synchronously; `await` works for every store.
 */
export class RateLimiter {
  readonly policy: LimitPolicy;
  readonly store: RateLimitStore;
  /** The store, when it is a memory store, for the path that builds no check array. */
  private readonly memoryStore: MemoryStore | undefined;
  private readonly keyPrefix: string;

  constructor(options: RateLimiterOptions) {
    if (!Number.isInteger(options.limit) || options.limit <= 0) {
      throw new InvalidArgumentError(`invalid limit ${options.limit}: expected a positive integer`);
    }
    const windowMs = parseDuration(options.window);
    if (windowMs <= 0)
      throw new InvalidArgumentError(`invalid window ${options.window}: must be longer than 0`);
    if (options.algorithm !== undefined && !algorithms.includes(options.algorithm)) {
      throw new InvalidArgumentError(
        `invalid algorithm ${String(options.algorithm)}: expected one of ${algorithms.join(', ')}`,
      );
    }
    // A burst of 0 would reject every request without a word, and a fraction has no meaning.
    if (options.burst !== undefined && (!Number.isInteger(options.burst) || options.burst <= 0)) {
      throw new InvalidArgumentError(`invalid burst ${options.burst}: expected a positive integer`);
    }
    this.policy = {
      name: options.name ?? 'default',
      algorithm: options.algorithm ?? 'sliding-window-log',
      limit: options.limit,
      windowMs,
      burst: options.burst,
      blockForMs: options.blockFor === undefined ? undefined : parseDuration(options.blockFor),
    };
    this.store = options.store ?? new MemoryStore();
    this.memoryStore = this.store instanceof MemoryStore ? this.store : undefined;
    this.keyPrefix = `${this.policy.name}:`;
  }

  consume(key: string, cost = 1): LimitDecision | Promise<LimitDecision> {
    if (!Number.isInteger(cost) || cost <= 0) {
      throw new InvalidArgumentError(`invalid cost ${cost}: expected a positive integer`);
    }
    const storeKey = this.keyPrefix + key;
    if (this.memoryStore !== undefined)
      return this.memoryStore.consumeOne(this.policy, storeKey, cost);

    const decisions = this.store.consume([{ policy: this.policy, key: storeKey, cost }]);
    return isPromise(decisions) ? decisions.then((settled) => settled[0]!) : decisions[0]!;
  }

  reset(key: string): void | Promise<void> {
    return this.store.reset(this.keyPrefix + key);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
