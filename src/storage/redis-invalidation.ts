import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

import {
  decodeChange,
  encodeChange,
  invalidationChannel,
  type CredentialChange,
  type CredentialListener,
  type CredentialNotifier,
} from '../auth/invalidation.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import { createRedisClient, waitForRedisReady } from './redis.js';

export interface RedisChannelOptions {
  url: string;
  keyPrefix: string;
  /** Called for every change, announced here or by another instance. */
  onChange: CredentialListener;
  /**
   * Called with `true` when the subscription is live and `false` when it is lost. Notices
   * sent while it was down are gone, so a listener clears its caches on both.
   */
  onSubscribed?: (live: boolean) => void;
  logger?: Logger;
}

/**
 * Carries credential changes between gateway instances over Redis pub/sub. Pub/sub delivers
 * at most once and only to connected subscribers, so it shortens how long a cached credential
 * outlives a change. When a notice is lost, the cache lifetime still bounds that time.
 */
export class RedisCredentialChannel implements CredentialNotifier {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly origin = randomUUID();
  private readonly logger: Logger;

  constructor(private readonly options: RedisChannelOptions) {
    this.logger = options.logger ?? silentLogger;
    this.channel = invalidationChannel(options.keyPrefix);
    this.publisher = createRedisClient(options.url, { logger: this.logger });
    // The subscriber queues SUBSCRIBE until it connects and subscribes again after every
    // reconnection, which the fail-fast command client would not do.
    this.subscriber = new Redis(options.url, {
      connectTimeout: 2_000,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt - 1, 16), 2_000),
    });
    this.subscriber.on('error', (error: Error) =>
      this.logger.debug({ err: error, redis: redactUrl(options.url) }, 'credential channel error'),
    );
    this.subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    this.subscriber.on('ready', () => this.subscribed(true));
    this.subscriber.on('close', () => this.subscribed(false));
    this.subscriber.subscribe(this.channel).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'subscribing to credential changes failed');
    });
  }

  /** Evicts the entry locally at once, then publishes the change to the other instances. */
  async notify(change: CredentialChange): Promise<void> {
    this.options.onChange(change);
    try {
      await this.publisher.publish(this.channel, encodeChange(change, this.origin));
    } catch (error) {
      this.logger.warn(
        { err: error, change },
        'publishing a credential change failed; other instances see it when their cache entry expires',
      );
    }
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    this.publisher.disconnect();
    await Promise.resolve();
  }

  private receive(message: string): void {
    const change = decodeChange(message);
    if (change === undefined) {
      this.logger.warn({ channel: this.channel }, 'ignored a malformed credential change notice');
      return;
    }
    if (change.origin === this.origin) return;
    this.options.onChange({ kind: change.kind, id: change.id });
  }

  private subscribed(live: boolean): void {
    this.logger.info({ channel: this.channel, live }, 'credential change subscription');
    this.options.onSubscribed?.(live);
  }
}

/**
 * Announces one change from a short-lived process such as the CLI. Without Redis it does
 * nothing, and each gateway reads the change when its cache entry expires.
 */
export async function publishCredentialChange(
  redisUrl: string | undefined,
  keyPrefix: string,
  change: CredentialChange,
  logger: Logger = silentLogger,
): Promise<boolean> {
  if (redisUrl === undefined) return false;
  const client = createRedisClient(redisUrl, { logger });
  try {
    await waitForRedisReady(client, 2_000);
    await client.publish(invalidationChannel(keyPrefix), encodeChange(change, 'cli'));
    return true;
  } catch (error) {
    logger.warn({ err: error, change }, 'could not announce the credential change over Redis');
    return false;
  } finally {
    client.disconnect();
  }
}
