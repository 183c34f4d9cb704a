import type { Clock } from '../core/clock.js';
import { InvalidArgumentError, StoreUnavailableError } from '../core/errors.js';
import { redactUrl } from '../core/logger.js';
import {
  closeRedisClient,
  createRedisClient,
  describeRedisEndpoint,
  type RedisClient,
  type RedisClientOptions,
} from '../storage/redis.js';
import type { Algorithm, LimitCheck, LimitDecision, RateLimitStore } from './policy.js';
import { CONSUME_SCRIPT } from './redis-script.js';

export interface RedisStoreOptions {
  /** An ioredis client to use, or a `redis://` URL for a client the store creates and owns. */
  redis: RedisClient | string;
  /** Namespace of every key, `bwk:` by default. */
  keyPrefix?: string;
  /**
   * Redis Cluster hash tag shared by every rate-limit key, so that the checks of one request,
   * whatever their keys, run in one script on one node. By default the key prefix becomes
   * the tag (`{bwk}:rl:…`). The cost is that one cluster slot, and so one primary, stores all
   * rate-limit state and serves every check. A deployment that outgrows one node can split its
   * gateways into groups with distinct tags. A string sets another tag
   * (`bwk:{TAG}:rl:…`); `false` adds no tag, which works on standalone Redis only.
   */
  hashTag?: string | false;
  /**
   * Milliseconds to wait for Redis before a call fails with BWK_ERR_STORE_UNAVAILABLE, 100 by
   * default. With 0 a call waits as long as the client does.
   */
  commandTimeout?: number;
  /**
   * Takes the time from this clock instead of the Redis server, for deterministic tests.
   * Its times become absolute expiry times (PXAT), so it must not run behind the Redis
   * server's clock, or keys expire early.
   */
  clock?: Clock;
  /** Connection settings for a client created from a URL. */
  client?: RedisClientOptions;
}

/** Algorithm codes as the script reads them, one byte each. */
const ALGORITHM_CODES: Record<Algorithm, number> = {
  'sliding-window-log': 0x6c, // l
  'sliding-window-counter': 0x63, // c
  gcra: 0x67, // g
};

/** Bytes of one check's parameters: the algorithm code and five doubles. */
const PARAMS_SIZE = 41;

const VALUES_PER_DECISION = 5;

interface ConsumeCommand {
  bwkRateLimitConsume(args: (string | number | Buffer)[]): Promise<(number | string)[]>;
}

/**
 * Rate-limit state in Redis (6.2 or later), shared by every gateway instance. One `consume`
 * is one script call (EVALSHA, falling back to EVAL after a Redis restart) that checks all
 * limits of the request and consumes in all or none, so several processes never admit more
 * than a limit between them. The clock is the Redis server's, so instance clocks need not
 * agree.
 *
 * Each key's state is a small binary string under `…rl:KEY`; a sliding window log also keeps
 * its entries in a list under `…rl-log:KEY`. Both expire when their stored timestamps show that
 * the state carries no more information. The layout is described with the script.
 */
export class RedisStore implements RateLimitStore {
  readonly kind = 'redis';
  readonly client: RedisClient;
  /** The Redis address for logs, without its password. */
  readonly endpoint: string;
  /** Prefix of the state keys. The log lists use `rl-log:` in place of `rl:`. */
  readonly statePrefix: string;
  readonly logPrefix: string;
  private readonly ownsClient: boolean;
  private readonly commandTimeout: number;
  private readonly clock: Clock | undefined;
  /** True once the client has been ready; from then on a disconnection fails calls at once. */
  private connected: boolean;
  private connecting: Promise<void> | undefined;

  constructor(options: RedisStoreOptions) {
    if (typeof options.redis === 'string') {
      this.client = createRedisClient(options.redis, options.client);
      this.endpoint = redactUrl(options.redis);
      this.ownsClient = true;
    } else {
      this.client = options.redis;
      this.endpoint = describeRedisEndpoint(options.redis);
      this.ownsClient = false;
    }
    const base = keyBase(options.keyPrefix ?? 'bwk:', options.hashTag);
    this.statePrefix = `${base}rl:`;
    this.logPrefix = `${base}rl-log:`;
    this.commandTimeout = options.commandTimeout ?? 100;
    if (!Number.isFinite(this.commandTimeout) || this.commandTimeout < 0) {
      throw new InvalidArgumentError(
        `invalid commandTimeout ${options.commandTimeout}: expected milliseconds, 0 or more`,
      );
    }
    this.clock = options.clock;
    this.connected = this.client.status === 'ready';
    if (!this.connected) this.client.once('ready', () => (this.connected = true));
    // Defining the command on a client that already has it replaces it with the same script.
    this.client.defineCommand('bwkRateLimitConsume', { lua: CONSUME_SCRIPT });
  }

  /**
   * Resolves when the client first becomes ready. Commands sent before that would fail at
   * once (the offline queue is off, so that an outage fails fast), so the first calls of a
   * new store wait for the connection instead, within the command timeout.
   */
  private firstConnection(): Promise<void> {
    this.connecting ??= new Promise<void>((resolve) => {
      if (this.client.status === 'ready') resolve();
      else this.client.once('ready', () => resolve());
    }).then(() => {
      this.connected = true;
    });
    return this.connecting;
  }

  /** The client's connection state as ioredis reports it (`ready` when usable). */
  get status(): string {
    return this.client.status;
  }

  consume(checks: readonly LimitCheck[]): Promise<LimitDecision[]> {
    if (checks.length === 0) return Promise.resolve([]);
    let args: (string | number | Buffer)[];
    try {
      args = this.commandArguments(checks);
    } catch (error) {
      return Promise.reject(error);
    }
    const send = (): Promise<(number | string)[]> =>
      (this.client as unknown as ConsumeCommand).bwkRateLimitConsume(args);
    const reply = this.connected ? send() : this.firstConnection().then(send);
    return this.withDeadline(reply, 'rate-limit check').then((values) =>
      decodeDecisions(checks, values),
    );
  }

  async reset(key: string): Promise<void> {
    const send = (): Promise<number> =>
      this.client.del(this.statePrefix + key, this.logPrefix + key);
    await this.withDeadline(
      this.connected ? send() : this.firstConnection().then(send),
      'rate-limit reset',
    );
  }

  /** Sends PING and resolves when Redis replies within the command timeout. */
  async ping(): Promise<void> {
    await this.withDeadline(this.client.ping(), 'ping');
  }

  /** Quits the client if the store created it. A client passed in stays open. */
  async close(): Promise<void> {
    if (!this.ownsClient) return;
    await closeRedisClient(this.client);
  }

  /** Builds the script's key count, keys, time and packed parameters (see redis-script.ts). */
  private commandArguments(checks: readonly LimitCheck[]): (string | number | Buffer)[] {
    const args: (string | number | Buffer)[] = [0];
    const params = Buffer.allocUnsafe(PARAMS_SIZE * checks.length);
    let offset = 0;
    for (const check of checks) {
      const { policy } = check;
      const limit = check.limit ?? policy.limit;
      // The script keeps exact running sums of costs, and takes a log with no cost for empty.
      if (!Number.isSafeInteger(check.cost) || check.cost <= 0) {
        throw new InvalidArgumentError(`invalid cost ${check.cost}: expected a positive integer`);
      }
      args.push(this.statePrefix + check.key);
      if (policy.algorithm === 'sliding-window-log') args.push(this.logPrefix + check.key);
      params[offset] = ALGORITHM_CODES[policy.algorithm];
      params.writeDoubleLE(limit, offset + 1);
      params.writeDoubleLE(policy.windowMs, offset + 9);
      params.writeDoubleLE(policy.burst ?? limit, offset + 17);
      params.writeDoubleLE(check.cost, offset + 25);
      params.writeDoubleLE(policy.blockForMs ?? 0, offset + 33);
      offset += PARAMS_SIZE;
    }
    // ioredis takes the key count first; log checks bring a second key, the list.
    args[0] = args.length - 1;
    args.push(this.clock ? this.clock.now() : '', params);
    return args;
  }

  /** Rejects with BWK_ERR_STORE_UNAVAILABLE when Redis fails or is later than the timeout. */
  private withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
    const failed = (error: unknown): StoreUnavailableError =>
      new StoreUnavailableError(`Redis ${what} at ${this.endpoint} failed`, { cause: error });
    const timeoutMs = this.commandTimeout;
    if (timeoutMs === 0) {
      return promise.catch((error: unknown) => {
        throw failed(error);
      });
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A busy event loop runs this timer late, perhaps after the reply has reached the
        // socket. Rejecting after the next poll phase (setImmediate) lets a reply already
        // received win, so only a slow Redis counts as one, not a busy gateway.
        // NOTE: the command may still run on Redis after a real timeout, and consume quota
        // for a request whose decision came from elsewhere.
        setImmediate(() =>
          reject(
            new StoreUnavailableError(
              `Redis ${what} at ${this.endpoint} timed out after ${timeoutMs} ms`,
            ),
          ),
        );
      }, timeoutMs);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(failed(error));
        },
      );
    });
  }
}

function keyBase(keyPrefix: string, hashTag: string | false | undefined): string {
  if (hashTag === false) return keyPrefix;
  if (/[{}]/.test(keyPrefix)) {
    throw new InvalidArgumentError(
      `invalid keyPrefix "${keyPrefix}": braces are reserved for the hash tag; ` +
        'set hashTag to false to use a prefix of your own with braces',
    );
  }
  const tag = hashTag ?? keyPrefix.replace(/:+$/, '');
  if (tag === '' || /[{}]/.test(tag)) {
    throw new InvalidArgumentError(
      `invalid Redis hash tag "${tag}": expected a non-empty name without braces ` +
        '(it comes from keyPrefix unless hashTag is set)',
    );
  }
  return hashTag === undefined ? `{${tag}}:` : `${keyPrefix}{${tag}}:`;
}

function decodeDecisions(
  checks: readonly LimitCheck[],
  values: readonly (number | string)[],
): LimitDecision[] {
  if (values.length !== checks.length * VALUES_PER_DECISION) {
    throw new StoreUnavailableError(
      `Redis rate-limit script returned ${values.length} values for ${checks.length} checks; ` +
        `expected ${checks.length * VALUES_PER_DECISION}`,
    );
  }
  const decisions: LimitDecision[] = [];
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!;
    const at = i * VALUES_PER_DECISION;
    decisions.push({
      policy: check.policy.name,
      allowed: values[at] === 1,
      limit: check.limit ?? check.policy.limit,
      remaining: toNumber(values[at + 1]!),
      resetMs: toNumber(values[at + 2]!),
      retryAfterMs: toNumber(values[at + 3]!),
      blocked: values[at + 4] === 1,
    });
  }
  return decisions;
}

/** Reads a number the script sent as an integer reply or, when fractional, as a string. */
function toNumber(value: number | string): number {
  if (typeof value === 'number') return value;
  return value === 'inf' ? Number.POSITIVE_INFINITY : Number(value);
}
