import { Redis } from 'ioredis';

import { StoreUnavailableError } from '../core/errors.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import {
  closeRedisClient,
  createRedisClient,
  waitForRedisReady,
  type RedisClient,
} from '../storage/redis.js';
import { ADD_SCRIPT, LIST_SCRIPT, REMOVE_SCRIPT, VIOLATION_SCRIPT } from './ban-scripts.js';
import {
  MemoryBanStore,
  type BanEscalation,
  type BanStore,
  type BanTrigger,
  type ManualBan,
  type RecordedBan,
} from './ban-store.js';
import { decodeBan, type Ban } from './bans.js';

/** Most bans one list call returns, and so most that an instance copies from Redis. */
export const MAX_LISTED_BANS = 100_000;

export interface RedisBanStoreOptions {
  /** A `redis://` URL for a client the store creates and owns, or a client to use. */
  redis: string | RedisClient;
  /** Namespace of every key, `bwk:` by default. */
  keyPrefix?: string;
  escalation: BanEscalation;
  /** Milliseconds to wait for Redis before a call fails, 500 by default. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

interface BanCommands {
  bwkBanViolation(keys: string[], ...args: (string | number)[]): Promise<string | null>;
  bwkBanAdd(...args: (string | number)[]): Promise<string>;
  bwkBanRemove(...args: (string | number)[]): Promise<string | null>;
  bwkBanList(...args: (string | number)[]): Promise<string[]>;
}

/** Returns the key base and the change channel of the bans under a key prefix. */
export function banKeys(keyPrefix: string): { base: string; channel: string } {
  const base = `${keyPrefix}{bans}:`;
  return { base, channel: `${base}changes` };
}

/**
 * Bans shared by every instance through Redis. Each operation is one script (see
 * ban-scripts.ts). While Redis is unreachable, a memory store counts violations, so that a
 * client cannot escape bans by waiting out an outage. Bans made then hold on this instance only.
 */
export class RedisBanStore implements BanStore {
  readonly kind = 'redis';
  readonly channel: string;
  readonly client: RedisClient;
  private readonly base: string;
  private readonly ownsClient: boolean;
  private readonly escalation: BanEscalation;
  private readonly fallback: MemoryBanStore;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  private degraded = false;

  constructor(options: RedisBanStoreOptions) {
    this.logger = options.logger ?? silentLogger;
    this.ownsClient = typeof options.redis === 'string';
    this.client =
      typeof options.redis === 'string'
        ? createRedisClient(options.redis, { logger: this.logger })
        : options.redis;
    const keys = banKeys(options.keyPrefix ?? 'bwk:');
    this.base = keys.base;
    this.channel = keys.channel;
    this.escalation = options.escalation;
    this.fallback = new MemoryBanStore(options.escalation);
    this.commandTimeoutMs = options.commandTimeoutMs ?? 500;
    this.client.defineCommand('bwkBanViolation', { numberOfKeys: 4, lua: VIOLATION_SCRIPT });
    this.client.defineCommand('bwkBanAdd', { numberOfKeys: 2, lua: ADD_SCRIPT });
    this.client.defineCommand('bwkBanRemove', { numberOfKeys: 3, lua: REMOVE_SCRIPT });
    this.client.defineCommand('bwkBanList', { numberOfKeys: 2, lua: LIST_SCRIPT });
  }

  /** Resolves once the client is ready; rejects after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<void> {
    return waitForRedisReady(this.client, timeoutMs);
  }

  async recordViolation(subject: string, trigger: BanTrigger): Promise<RecordedBan | undefined> {
    const keys = [
      `${this.base}hits:${trigger.event}:${subject}`,
      `${this.base}level:${subject}`,
      `${this.base}active`,
      `${this.base}info`,
    ];
    const args = [
      subject,
      trigger.count,
      trigger.windowMs,
      this.escalation.resetAfterMs,
      trigger.event,
      this.channel,
      ...this.escalation.durationsMs,
    ];
    try {
      const reply = await this.deadline(this.commands.bwkBanViolation(keys, ...args), 'violation');
      this.recovered();
      const ban = reply === null ? undefined : decodeBan(reply);
      return ban && { ban, localOnly: false };
    } catch (error) {
      this.degrade(error);
      const ban = this.fallback.countViolation(subject, trigger);
      return ban && { ban, localOnly: true };
    }
  }

  async add(input: ManualBan): Promise<Ban> {
    const reply = await this.deadline(
      this.commands.bwkBanAdd(
        `${this.base}active`,
        `${this.base}info`,
        input.subject,
        input.durationMs,
        input.reason,
        this.channel,
      ),
      'add',
    );
    return this.decoded(reply);
  }

  async remove(subject: string): Promise<Ban | undefined> {
    const reply = await this.deadline(
      this.commands.bwkBanRemove(
        `${this.base}active`,
        `${this.base}info`,
        `${this.base}level:${subject}`,
        subject,
        this.channel,
      ),
      'remove',
    );
    return reply === null ? undefined : this.decoded(reply);
  }

  async list(): Promise<Ban[]> {
    const reply = await this.deadline(
      this.commands.bwkBanList(`${this.base}active`, `${this.base}info`, MAX_LISTED_BANS),
      'list',
    );
    const bans: Ban[] = [];
    for (const text of reply) {
      const ban = decodeBan(text);
      if (ban !== undefined) bans.push(ban);
    }
    return bans;
  }

  /** Quits the client if the store created it. */
  async close(): Promise<void> {
    if (!this.ownsClient) return;
    await closeRedisClient(this.client);
  }

  private get commands(): BanCommands {
    return this.client as unknown as BanCommands;
  }

  private decoded(text: string): Ban {
    const ban = decodeBan(text);
    if (ban === undefined) throw new StoreUnavailableError('Redis returned a malformed ban');
    return ban;
  }

  /** Rejects with BWK_ERR_STORE_UNAVAILABLE when Redis fails or responds too late. */
  private deadline<T>(reply: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new StoreUnavailableError(
              `Redis ban ${what} timed out after ${this.commandTimeoutMs} ms`,
            ),
          ),
        this.commandTimeoutMs,
      );
      reply.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(new StoreUnavailableError(`Redis ban ${what} failed`, { cause: error }));
        },
      );
    });
  }

  private degrade(error: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.logger.error(
      { err: error },
      'Redis unreachable for bans; counting violations locally, and new bans hold on this instance only',
    );
  }

  private recovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.info('Redis reachable again; bans are shared again');
  }
}

export interface BanSubscriptionOptions {
  url: string;
  channel: string;
  onAdd: (ban: Ban) => void;
  onRemove: (subject: string) => void;
  /** Called when the subscription is (again) live, so that the caller reloads every ban. */
  onSubscribed: () => void;
  logger?: Logger;
}

/**
 * Receives ban changes from every instance over Redis pub/sub. Pub/sub delivers at most once
 * and only while connected, so BanService also reloads the whole list through `onSubscribed`
 * and every `bans.syncInterval`.
 */
export class BanSubscription {
  private readonly subscriber: Redis;
  private readonly logger: Logger;

  constructor(private readonly options: BanSubscriptionOptions) {
    this.logger = options.logger ?? silentLogger;
    // This client queues SUBSCRIBE until it connects and subscribes again after every
    // reconnection, which the fail-fast command client would not do.
    this.subscriber = new Redis(options.url, {
      connectTimeout: 2_000,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt - 1, 16), 2_000),
    });
    this.subscriber.on('error', (error: Error) =>
      this.logger.debug({ err: error, redis: redactUrl(options.url) }, 'ban channel error'),
    );
    this.subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    this.subscriber.on('ready', () => options.onSubscribed());
    this.subscriber.subscribe(options.channel).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'subscribing to ban changes failed');
    });
  }

  close(): void {
    this.subscriber.disconnect();
  }

  private receive(message: string): void {
    const space = message.indexOf(' ');
    const op = message.slice(0, space);
    const payload = message.slice(space + 1);
    if (op === 'add') {
      const ban = decodeBan(payload);
      if (ban !== undefined) return this.options.onAdd(ban);
    } else if (op === 'remove' && payload !== '') {
      return this.options.onRemove(payload);
    }
    this.logger.warn({ channel: this.options.channel }, 'ignored a malformed ban notice');
  }
}
