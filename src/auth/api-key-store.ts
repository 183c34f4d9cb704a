import { createHmac, hash, timingSafeEqual } from 'node:crypto';

import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import { generateApiKey } from './api-key-format.js';

/**
 * `active` keys work until `expiresAt`. A `rotated` key has a successor and works until
 * `expiresAt`, which rotation set to the end of its grace period. `revoked` keys never work.
 */
export type ApiKeyStatus = 'active' | 'rotated' | 'revoked';

/** A stored key. It contains the HMAC of the key, never the key itself. */
export interface ApiKeyRecord {
  /** The non-secret key id: the first 12 random characters of the key. */
  id: string;
  /** HMAC-SHA256 of the whole key under the server pepper, hex-encoded. */
  hash: string;
  env: string;
  name: string;
  owner: string;
  scopes: string[];
  /** Rate-limit tier, matched against `tiers` of rate limits. */
  plan?: string;
  /** Times in epoch milliseconds. */
  createdAt: number;
  expiresAt?: number;
  lastUsedAt?: number;
  status: ApiKeyStatus;
  /** The id of the key that `rotate` issued in place of this one. */
  replacedBy?: string;
}

export interface NewApiKey {
  env: string;
  name: string;
  owner: string;
  scopes?: string[];
  plan?: string;
  expiresAt?: number;
}

/** A key as returned once, at creation or rotation: the plaintext key and its record. */
export interface IssuedApiKey {
  key: string;
  record: ApiKeyRecord;
}

/**
 * Storage of API keys. Implementations keep only `ApiKeyRecord`s, and the plaintext key is
 * returned once by `create` and `rotate` and not kept.
 */
export interface ApiKeyStore {
  create(input: NewApiKey): Promise<IssuedApiKey>;
  findById(id: string): Promise<ApiKeyRecord | undefined>;
  list(filter?: { owner?: string }): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked. Resolves false when no key has that id. */
  revoke(id: string): Promise<boolean>;
  /**
   * Issues a successor with the same metadata. The old key keeps working for `graceMs`
   * (shortened if it expires earlier), then stops.
   */
  rotate(id: string, graceMs: number): Promise<IssuedApiKey>;
  /** Records the last use of many keys at once, as `LastUsedRecorder` batches them. */
  touchLastUsed(ids: Iterable<string>, at: number): Promise<void>;
  /**
   * A caching store answers from memory without a promise: the lookup result when it holds
   * one for `id` (a record, or `undefined` for a known absence), else `undefined`.
   */
  peek?(id: string): { record: ApiKeyRecord | undefined } | undefined;
}

/** Computes and compares key hashes under the server pepper. */
const MAX_VERIFIED = 50_000;

export class ApiKeyHasher {
  private readonly pepper: Buffer;
  private readonly verified = new Map<string, Buffer>();

  /**
   * Keys carry about 166 secret bits, so one HMAC is enough and a slow hash would only cost
   * time per request. The pepper keeps a leaked store from being checked against guesses.
   */
  constructor(pepper: string | Buffer) {
    this.pepper = Buffer.from(pepper);
    if (this.pepper.length < 32)
      throw new InvalidArgumentError(
        `API key pepper is ${this.pepper.length} bytes; use at least 32 random bytes`,
      );
  }

  hash(key: string): string {
    return createHmac('sha256', this.pepper).update(key).digest('hex');
  }

  /**
   * Compares in constant time, so response times do not reveal how much of a hash matched.
   *
   * A key that matched once is checked again against its SHA-256, remembered per stored hash,
   * which costs less than half an HMAC. Only digests of keys that matched are kept, never a
   * key, and a stored hash belongs to one key for life (rotation issues a new key).
   */
  matches(key: string, storedHash: string): boolean {
    const digest = hash('sha256', key, 'buffer');
    const known = this.verified.get(storedHash);
    if (known !== undefined) return timingSafeEqual(known, digest);

    const expected = Buffer.from(storedHash, 'hex');
    const actual = createHmac('sha256', this.pepper).update(key).digest();
    const matched = expected.length === actual.length && timingSafeEqual(expected, actual);
    if (matched) this.remember(storedHash, digest);
    return matched;
  }

  private remember(storedHash: string, digest: Buffer): void {
    if (this.verified.size >= MAX_VERIFIED) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(storedHash, digest);
  }
}

export interface MemoryApiKeyStoreOptions {
  /** The server pepper, read from an environment variable and never from a config file. */
  pepper: string | Buffer;
  clock?: Clock;
  /** Records to start with, e.g. from `records()` of another store saved as JSON. */
  records?: readonly ApiKeyRecord[];
}

/** An API key store in process memory, for tests and the library. */
export class MemoryApiKeyStore implements ApiKeyStore {
  private readonly keys = new Map<string, ApiKeyRecord>();
  private readonly hasher: ApiKeyHasher;
  private readonly clock: Clock;

  constructor(options: MemoryApiKeyStoreOptions) {
    this.hasher = new ApiKeyHasher(options.pepper);
    this.clock = options.clock ?? systemClock;
    for (const record of options.records ?? []) this.keys.set(record.id, { ...record });
  }

  create(input: NewApiKey): Promise<IssuedApiKey> {
    return Promise.resolve(this.issue(input));
  }

  findById(id: string): Promise<ApiKeyRecord | undefined> {
    const record = this.keys.get(id);
    return Promise.resolve(record === undefined ? undefined : copy(record));
  }

  list(filter: { owner?: string } = {}): Promise<ApiKeyRecord[]> {
    const all = [...this.keys.values()].filter(
      (record) => filter.owner === undefined || record.owner === filter.owner,
    );
    return Promise.resolve(all.map(copy));
  }

  revoke(id: string): Promise<boolean> {
    const record = this.keys.get(id);
    if (record === undefined) return Promise.resolve(false);
    record.status = 'revoked';
    return Promise.resolve(true);
  }

  rotate(id: string, graceMs: number): Promise<IssuedApiKey> {
    const record = this.keys.get(id);
    if (record === undefined || record.status !== 'active')
      return Promise.reject(new InvalidArgumentError(`no active API key with id "${id}"`));
    if (!Number.isFinite(graceMs) || graceMs < 0)
      return Promise.reject(
        new InvalidArgumentError(`invalid grace period ${graceMs} ms: use 0 or more`),
      );

    const successor = this.issue({
      env: record.env,
      name: record.name,
      owner: record.owner,
      scopes: record.scopes,
      plan: record.plan,
      expiresAt: record.expiresAt,
    });
    const graceEnd = this.clock.now() + graceMs;
    record.status = 'rotated';
    record.replacedBy = successor.record.id;
    record.expiresAt = Math.min(record.expiresAt ?? Infinity, graceEnd);
    return Promise.resolve(successor);
  }

  touchLastUsed(ids: Iterable<string>, at: number): Promise<void> {
    for (const id of ids) {
      const record = this.keys.get(id);
      if (record !== undefined && (record.lastUsedAt ?? 0) < at) record.lastUsedAt = at;
    }
    return Promise.resolve();
  }

  /** Copies of every record, e.g. to start another store with. */
  records(): ApiKeyRecord[] {
    return [...this.keys.values()].map(copy);
  }

  private issue(input: NewApiKey): IssuedApiKey {
    let generated = generateApiKey(input.env);
    // Ids have about 71 bits, so a repeat is unlikely, but a repeat must not replace a key.
    while (this.keys.has(generated.keyId)) generated = generateApiKey(input.env);
    const record: ApiKeyRecord = {
      id: generated.keyId,
      hash: this.hasher.hash(generated.secret),
      env: input.env,
      name: input.name,
      owner: input.owner,
      scopes: [...(input.scopes ?? [])],
      createdAt: this.clock.now(),
      status: 'active',
    };
    if (input.plan !== undefined) record.plan = input.plan;
    if (input.expiresAt !== undefined) record.expiresAt = input.expiresAt;
    this.keys.set(record.id, record);
    return { key: generated.secret, record: copy(record) };
  }
}

function copy(record: ApiKeyRecord): ApiKeyRecord {
  return { ...record, scopes: [...record.scopes] };
}

export interface LastUsedRecorderOptions {
  store: Pick<ApiKeyStore, 'touchLastUsed'>;
  clock?: Clock;
  /** How often pending uses are written to the store, in milliseconds. */
  flushIntervalMs: number;
  /** Called with an error from the store, which is otherwise dropped. */
  onError?: (error: unknown) => void;
}

/**
 * Collects key uses in memory and writes them to the store in one call per interval, so a
 * request never waits for, or writes to, the store to update `lastUsedAt`. A use recorded
 * less than one interval before the process stops is written by `close()`.
 */
export class LastUsedRecorder {
  private pending = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly options: LastUsedRecorderOptions;

  constructor(options: LastUsedRecorderOptions) {
    this.options = options;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  record(id: string): void {
    this.pending.add(id);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const ids = this.pending;
    this.pending = new Set();
    try {
      await this.options.store.touchLastUsed(ids, (this.options.clock ?? systemClock).now());
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
