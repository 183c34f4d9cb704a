import { Redis, type Cluster } from 'ioredis';

import { InvalidArgumentError, StoreUnavailableError } from '../core/errors.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';

/** A standalone client or a Cluster client; both run scripts and emit the same events. */
export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Maximum wait between reconnection attempts, in milliseconds. */
  maxReconnectDelayMs?: number;
  /** How long one connection attempt may take, in milliseconds. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

/**
 * Creates an ioredis client that fails fast while Redis is unreachable, which is what a
 * rate limiter with a local fallback needs:
 *
 * - commands sent while disconnected are rejected at once instead of queued
 *   (`enableOfflineQueue: false`), and commands in flight when the connection drops are
 *   rejected, never resent after reconnecting, because a resent consume would count twice;
 * - reconnection never stops, with a backoff that doubles from 50 ms up to
 *   `maxReconnectDelayMs`, so the client comes back on its own when Redis does.
 *
 * Connection errors are logged once per outage, with the password removed from the URL.
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  if (!/^rediss?:\/\//.test(url)) {
    throw new InvalidArgumentError(
      `invalid Redis URL "${redactUrl(url)}": expected redis://host:port/db or rediss://host:port/db`,
    );
  }
  const maxDelay = options.maxReconnectDelayMs ?? 2_000;
  const client = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt - 1, 16), maxDelay),
  });
  logConnectionErrors(client, redactUrl(url), options.logger ?? silentLogger);
  return client;
}

/**
 * Logs the first connection error of each outage and later ones at debug level. The listener
 * also keeps ioredis from printing every failed reconnection attempt to stderr, which it does
 * when a client has no `error` listener.
 */
function logConnectionErrors(client: RedisClient, endpoint: string, logger: Logger): void {
  let reported = false;
  client.on('ready', () => {
    reported = false;
  });
  client.on('error', (error: Error) => {
    if (reported) {
      logger.debug({ err: error, redis: endpoint }, 'Redis reconnection failed');
      return;
    }
    reported = true;
    logger.warn({ err: error, redis: endpoint }, 'Redis connection failed, reconnecting');
  });
}

/** Resolves once the client is ready for commands; rejects after `timeoutMs`. */
export function waitForRedisReady(client: RedisClient, timeoutMs = 5_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(
        new StoreUnavailableError(
          `Redis at ${describeRedisEndpoint(client)} was not ready within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    client.once('ready', onReady);
  });
}

/**
 * Closes a client: QUIT when connected, so replies in flight arrive first, else a disconnect,
 * which also stops reconnection attempts.
 */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** Returns `redis://host:port/db` for logs; never includes credentials. */
export function describeRedisEndpoint(client: RedisClient): string {
  if (!(client instanceof Redis)) return 'redis cluster';
  const { host, port, db, path } = client.options;
  return path ? `redis+unix://${path}` : `redis://${host}:${port}/${db ?? 0}`;
}
