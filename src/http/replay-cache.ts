/**
 * The nonce replay cache of signature verification. A signed request is accepted once per
 * nonce: the cache remembers each (key id, nonce) pair for as long as a signature with it
 * could still be accepted, so a captured request sent again inside that window is caught.
 *
 * In memory the window holds for one instance; with Redis (`SET NX` with an expiry) it holds
 * for every instance that shares the key prefix.
 */
import { createHash } from 'node:crypto';

import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../storage/redis.js';

/** `fresh`: first use, now recorded; `replayed`: seen before; `unavailable`: cannot tell. */
export type NonceVerdict = 'fresh' | 'replayed' | 'unavailable';

export interface ReplayCache {
  readonly kind: 'memory' | 'redis';
  /** Records the nonce of `keyId` for `ttlMs` unless it is already recorded. */
  remember(keyId: string, nonce: string, ttlMs: number): NonceVerdict | Promise<NonceVerdict>;
  close(): Promise<void>;
}

/**
 * Returns the cache key of a nonce: a hash, so that entries have one small size whatever
 * the client sent, and the key id, so that two keys' nonces never collide.
 */
export function nonceKey(keyId: string, nonce: string): string {
  return createHash('sha256').update(keyId).update('\n').update(nonce).digest('base64url');
}

/**
 * Nonces in a Map in insertion order. Every entry of one verifier has the same lifetime, so
 * insertion order is expiry order and expired entries are swept from the front.
 *
 * When `maxEntries` unexpired nonces are held, new ones are refused (`unavailable`) rather
 * than older ones forgotten, because forgetting a live nonce would let its request be
 * replayed.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly kind = 'memory';
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly maxEntries: number,
    private readonly clock: Clock = systemClock,
  ) {}

  remember(keyId: string, nonce: string, ttlMs: number): NonceVerdict {
    const now = this.clock.now();
    this.sweep(now);
    const key = nonceKey(keyId, nonce);
    const expiresAt = this.entries.get(key);
    if (expiresAt !== undefined && expiresAt > now) return 'replayed';
    if (this.entries.size >= this.maxEntries) return 'unavailable';
    this.entries.set(key, now + ttlMs);
    return 'fresh';
  }

  get size(): number {
    return this.entries.size;
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }

  private sweep(now: number): void {
    for (const [key, expiresAt] of this.entries) {
      if (expiresAt > now) return;
      this.entries.delete(key);
    }
  }
}

/** What the Redis cache does while Redis is unreachable; `storage.onRedisFailure`. */
export type ReplayFailureMode = 'fallback' | 'open' | 'closed';

export interface RedisReplayCacheOptions {
  /** A `redis://` URL for a client the cache creates and owns, or a client to share. */
  redis: string | RedisClient;
  keyPrefix: string;
  /** Milliseconds to wait for Redis before the failure mode decides. */
  commandTimeout: number;
  /**
   * `fallback`: remember nonces in this instance's memory, so replays across instances go
   * unseen until Redis is back; `open`: accept without a replay check; `closed`: refuse.
   */
  onFailure: ReplayFailureMode;
  /** Entries of the memory fallback. */
  maxFallbackEntries: number;
  logger?: Logger;
}

/**
 * Nonces in Redis, one key each under `<prefix>sig-nonce:`, written with `SET … PX … NX`:
 * whichever instance writes first accepts the request, every other write finds the key.
 */
export class RedisReplayCache implements ReplayCache {
  readonly kind = 'redis';
  private readonly client: RedisClient;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly fallback: MemoryReplayCache;
  private readonly logger: Logger;
  private readonly endpoint: string;
  private degraded = false;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: RedisReplayCacheOptions) {
    this.logger = options.logger ?? silentLogger;
    if (typeof options.redis === 'string') {
      this.client = createRedisClient(options.redis, { logger: this.logger });
      this.endpoint = redactUrl(options.redis);
      this.ownsClient = true;
    } else {
      this.client = options.redis;
      this.endpoint = 'shared client';
      this.ownsClient = false;
    }
    this.prefix = `${options.keyPrefix}sig-nonce:`;
    this.fallback = new MemoryReplayCache(options.maxFallbackEntries);
  }

  remember(keyId: string, nonce: string, ttlMs: number): Promise<NonceVerdict> {
    const key = nonceKey(keyId, nonce);
    return this.set(this.prefix + key, ttlMs).then(
      (written) => {
        this.recovered();
        return written ? 'fresh' : 'replayed';
      },
      (error: unknown) => this.failed(error, keyId, nonce, ttlMs),
    );
  }

  async close(): Promise<void> {
    await this.fallback.close();
    if (!this.ownsClient) return;
    await closeRedisClient(this.client);
  }

  /** Resolves true when the key was written, false when it existed; rejects on failure. */
  private set(key: string, ttlMs: number): Promise<boolean> {
    const command = (): Promise<boolean> =>
      this.client.set(key, '1', 'PX', ttlMs, 'NX').then((reply) => reply === 'OK');
    // Commands sent before the first connection would fail at once (no offline queue), so
    // the first calls wait for it, within the same deadline. Later outages fail fast.
    const reply = this.client.status === 'ready' ? command() : this.firstConnection().then(command);
    return withDeadline(reply, this.options.commandTimeout);
  }

  private firstConnection(): Promise<void> {
    this.connecting ??= new Promise((resolve) => {
      if (this.client.status === 'ready') resolve();
      else this.client.once('ready', () => resolve());
    });
    return this.connecting;
  }

  private failed(error: unknown, keyId: string, nonce: string, ttlMs: number): NonceVerdict {
    if (!this.degraded) {
      this.degraded = true;
      this.logger.warn(
        { err: error, redis: this.endpoint, mode: this.options.onFailure },
        'nonce replay cache: Redis unavailable, applying storage.onRedisFailure',
      );
    }
    if (this.options.onFailure === 'open') return 'fresh';
    if (this.options.onFailure === 'closed') return 'unavailable';
    return this.fallback.remember(keyId, nonce, ttlMs);
  }

  private recovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.info({ redis: this.endpoint }, 'nonce replay cache: Redis available again');
  }
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  if (timeoutMs <= 0) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Redis did not reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
