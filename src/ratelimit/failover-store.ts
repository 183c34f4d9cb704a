import type { Clock } from '../core/clock.js';
import { InvalidArgumentError, StoreUnavailableError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import { MemoryStore } from './memory-store.js';
import type { LimitCheck, LimitDecision, LimitPolicy, RateLimitStore } from './policy.js';
import type { RedisStore } from './redis-store.js';
import { waitForRedisReady } from '../storage/redis.js';

/**
 * Rate limiting while Redis is unreachable: counting locally with each instance's share of
 * the limit, admitting everything, or rejecting everything.
 */
export type RedisFailureMode = 'fallback' | 'open' | 'closed';

/** `redis` while Redis makes the decisions, `degraded` while the failure mode makes them. */
export type FailoverState = 'redis' | 'degraded';

export interface FailoverStoreOptions {
  redis: RedisStore;
  /** Failure mode while Redis is unreachable, `fallback` by default. */
  mode?: RedisFailureMode;
  /** Gateway instances sharing the limits. The local fallback admits limit ÷ this on each. */
  expectedInstances?: number;
  /** Clock of the local fallback store. */
  clock?: Clock;
  events?: EventBus;
  logger?: Logger;
  /** How often Redis is pinged while degraded with the connection up, in milliseconds. */
  probeIntervalMs?: number;
  /** Retry-After given to every request in `closed` mode, in milliseconds. */
  closedRetryAfterMs?: number;
}

export type StateChangeListener = (state: FailoverState, previous: FailoverState) => void;

const COMPONENT = 'ratelimit.store';

/**
 * A Redis store that keeps rate limiting working while Redis is down or slow.
 *
 * When a Redis call fails or exceeds the store's command timeout, the failure mode decides
 * that request at once, and the store turns `degraded`: later requests are decided locally
 * without waiting on Redis. The client's connection events (`close`, `error`, `end`)
 * turn it degraded before a request has to fail. It returns to Redis by itself on the
 * client's `ready` event after a reconnection, or, when the connection stayed up but Redis
 * was slow, on the first probe PING that Redis replies to in time. Requests made while the
 * client is still making its first connection are decided locally, without an event, unless
 * that connection fails.
 *
 * In `fallback` mode each instance counts in memory and admits ceil(limit ÷
 * expectedInstances), so the instances together stay near the shared limit. Counts made
 * during an outage are not copied to Redis afterwards, and Redis keeps the counts from
 * before it.
 */
export class FailoverStore implements RateLimitStore {
  private readonly redis: RedisStore;
  private readonly local: MemoryStore;
  private readonly mode: RedisFailureMode;
  private readonly expectedInstances: number;
  private readonly events: EventBus | undefined;
  private readonly logger: Logger;
  private readonly probeIntervalMs: number;
  private readonly closedRetryAfterMs: number;
  private readonly listeners = new Set<StateChangeListener>();
  private readonly localPolicies = new WeakMap<LimitPolicy, LimitPolicy>();
  private readonly detachClient: () => void;
  private current: FailoverState = 'redis';
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private degradations = 0;
  /** True until the client's first connection succeeds or fails. */
  private starting: boolean;

  constructor(options: FailoverStoreOptions) {
    const expectedInstances = options.expectedInstances ?? 1;
    if (!Number.isInteger(expectedInstances) || expectedInstances < 1) {
      throw new InvalidArgumentError(
        `invalid expectedInstances ${expectedInstances}: expected a positive integer`,
      );
    }
    this.redis = options.redis;
    this.local = new MemoryStore({ clock: options.clock });
    this.mode = options.mode ?? 'fallback';
    this.expectedInstances = expectedInstances;
    this.events = options.events;
    this.logger = options.logger ?? silentLogger;
    this.probeIntervalMs = options.probeIntervalMs ?? 1_000;
    this.closedRetryAfterMs = options.closedRetryAfterMs ?? 1_000;
    this.starting = this.redis.status !== 'ready';
    this.detachClient = this.watchClient();
  }

  /** The store that makes the decisions now, as reported in `ratelimit.exceeded` events. */
  get kind(): string {
    if (this.current === 'redis') return 'redis';
    return this.mode === 'fallback' ? 'memory' : `fail-${this.mode}`;
  }

  get state(): FailoverState {
    return this.current;
  }

  /** How many times Redis has been marked down since the store was created. */
  get degradedCount(): number {
    return this.degradations;
  }

  /**
   * Resolves true once Redis is ready, or false after `timeoutMs`. Until Redis is first
   * ready, requests are decided locally, so a gateway waits for this before it listens.
   */
  async whenReady(timeoutMs: number): Promise<boolean> {
    try {
      await waitForRedisReady(this.redis.client, timeoutMs);
      return true;
    } catch (error) {
      if (error instanceof StoreUnavailableError) return false;
      throw error;
    }
  }

  /** Calls `listener` on every change of state, e.g. to set a metrics gauge. */
  onStateChange(listener: StateChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  consume(
    checks: readonly LimitCheck[],
  ): readonly LimitDecision[] | Promise<readonly LimitDecision[]> {
    if (this.current === 'degraded') return this.decideLocally(checks);
    return this.redis.consume(checks).catch((error: unknown) => {
      // Only an unavailable Redis is a reason to fall back. An invalid check is a caller bug.
      if (!(error instanceof StoreUnavailableError)) throw error;
      // While the first connection is being made, commands fail at once but nothing is down.
      if (!this.starting) this.markDown('request failed', error);
      return this.decideLocally(checks);
    });
  }

  async reset(key: string): Promise<void> {
    this.local.reset(key);
    if (this.current === 'degraded') return;
    try {
      await this.redis.reset(key);
    } catch (error) {
      // NOTE: the key keeps its Redis state, because a reset is best effort while Redis fails.
      this.markDown('reset failed', error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    this.detachClient();
    await this.local.close();
    await this.redis.close();
  }

  private decideLocally(checks: readonly LimitCheck[]): readonly LimitDecision[] {
    if (this.mode === 'fallback') return this.local.consume(checks.map((c) => this.localCheck(c)));
    const allowed = this.mode === 'open';
    return checks.map((check) => {
      const limit = check.limit ?? check.policy.limit;
      return {
        policy: check.policy.name,
        allowed,
        limit,
        remaining: allowed ? limit : 0,
        resetMs: allowed ? 0 : this.closedRetryAfterMs,
        retryAfterMs: allowed ? 0 : this.closedRetryAfterMs,
        blocked: false,
        unavailable: !allowed,
      };
    });
  }

  /** Scales one check down to this instance's share of the limit, and its GCRA burst too. */
  private localCheck(check: LimitCheck): LimitCheck {
    const limit = check.limit ?? check.policy.limit;
    return {
      policy: this.localPolicy(check.policy),
      key: check.key,
      cost: check.cost,
      limit: Math.ceil(limit / this.expectedInstances),
    };
  }

  private localPolicy(policy: LimitPolicy): LimitPolicy {
    if (policy.burst === undefined || this.expectedInstances === 1) return policy;
    let scaled = this.localPolicies.get(policy);
    if (!scaled) {
      scaled = { ...policy, burst: Math.ceil(policy.burst / this.expectedInstances) };
      this.localPolicies.set(policy, scaled);
    }
    return scaled;
  }

  private watchClient(): () => void {
    const client = this.redis.client;
    const onReady = (): void => {
      this.starting = false;
      this.markUp('reconnected');
    };
    const onClose = (): void => {
      this.starting = false;
      this.markDown('connection closed');
    };
    const onError = (error: Error): void => {
      this.starting = false;
      this.markDown('connection error', error);
    };
    const onEnd = (): void => {
      this.starting = false;
      this.markDown('connection ended, no more reconnection attempts');
    };
    client.on('ready', onReady);
    client.on('close', onClose);
    client.on('error', onError);
    client.on('end', onEnd);
    return () => {
      client.off('ready', onReady);
      client.off('close', onClose);
      client.off('error', onError);
      client.off('end', onEnd);
    };
  }

  private markDown(reason: string, error?: unknown): void {
    if (this.current === 'degraded' || this.closed) return;
    this.degradations += 1;
    this.logger.warn(
      { err: error, redis: this.redis.endpoint, reason, mode: this.mode },
      'Redis unavailable, rate limits answered locally',
    );
    this.events?.publish({
      type: 'ratelimit.store_degraded',
      category: 'system',
      severity: 'high',
      outcome: 'failure',
      actor: { type: 'system' },
      component: COMPONENT,
      details: {
        reason,
        ...(error instanceof Error ? { error: describeError(error) } : {}),
        mode: this.mode,
        expectedInstances: this.expectedInstances,
      },
    });
    this.setState('degraded');
    this.scheduleProbe();
  }

  private markUp(reason: string): void {
    if (this.current === 'redis' || this.closed) return;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.logger.info({ redis: this.redis.endpoint, reason }, 'Redis available again');
    this.events?.publish({
      type: 'ratelimit.store_recovered',
      category: 'system',
      severity: 'info',
      outcome: 'success',
      actor: { type: 'system' },
      component: COMPONENT,
      details: { reason, mode: this.mode },
    });
    this.setState('redis');
  }

  private setState(next: FailoverState): void {
    const previous = this.current;
    this.current = next;
    for (const listener of this.listeners) {
      try {
        listener(next, previous);
      } catch (error) {
        this.logger.error({ err: error }, 'rate-limit store state listener failed');
      }
    }
  }

  /**
   * Pings Redis while degraded. A dropped connection recovers through the `ready` event, but
   * a timeout on a live connection sends no event, so only a probe can tell it is over.
   */
  private scheduleProbe(): void {
    if (this.closed || this.probeTimer) return;
    this.probeTimer = setTimeout(() => void this.probe(), this.probeIntervalMs);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    this.probeTimer = undefined;
    if (this.current !== 'degraded' || this.closed) return;
    if (this.redis.status === 'ready') {
      try {
        await this.redis.ping();
        this.markUp('probe answered');
        return;
      } catch (error) {
        this.logger.debug({ err: error, redis: this.redis.endpoint }, 'Redis probe failed');
      }
    }
    this.scheduleProbe();
  }
}

/** Joins an error's message with its cause's, e.g. a timeout or ECONNREFUSED. */
function describeError(error: Error): string {
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}
