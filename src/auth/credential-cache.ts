import { systemClock, type Clock } from '../core/clock.js';
import type { ApiKeyRecord, ApiKeyStore, IssuedApiKey, NewApiKey } from './api-key-store.js';

export interface CredentialCacheOptions {
  /** How long a looked-up record (or its absence) is reused, in milliseconds. */
  ttlMs: number;
  /** Entries kept at most; the oldest is dropped first. */
  maxEntries?: number;
  clock?: Clock;
}

interface Entry {
  record: ApiKeyRecord | undefined;
  until: number;
}

const DEFAULT_MAX_ENTRIES = 50_000;

/**
 * An API key store that remembers lookups, so a request with a known key costs one map read
 * instead of a database query. Absent keys are remembered too, so a flood of made-up keys with
 * valid checksums does not reach the database either.
 *
 * An entry lives at most `ttlMs`, which bounds how long another instance's change goes
 * unnoticed when no invalidation channel exists. Changes made through this store, and changes
 * announced on the channel, evict the entry at once with `evict`. Expiry needs no eviction:
 * the guard compares `expiresAt` with the clock on every request.
 */
export class CachingApiKeyStore implements ApiKeyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<ApiKeyRecord | undefined>>();
  private ttlMs: number;
  private readonly maxEntries: number;
  private readonly clock: Clock;
  private generation = 0;

  constructor(
    private readonly inner: ApiKeyStore,
    options: CredentialCacheOptions,
  ) {
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.clock = options.clock ?? systemClock;
  }

  peek(id: string): { record: ApiKeyRecord | undefined } | undefined {
    const entry = this.entries.get(id);
    return entry !== undefined && this.clock.now() < entry.until ? entry : undefined;
  }

  findById(id: string): Promise<ApiKeyRecord | undefined> {
    const entry = this.peek(id);
    if (entry !== undefined) return Promise.resolve(entry.record);

    // Concurrent requests with the same key share one query.
    const pending = this.inFlight.get(id);
    if (pending !== undefined) return pending;
    const lookup: Promise<ApiKeyRecord | undefined> = this.load(id).finally(() => {
      if (this.inFlight.get(id) === lookup) this.inFlight.delete(id);
    });
    this.inFlight.set(id, lookup);
    return lookup;
  }

  /** Forgets one key, after a change here or on another instance. */
  evict(id: string): void {
    this.entries.delete(id);
    this.inFlight.delete(id);
    this.generation += 1;
  }

  /** Forgets every key, e.g. after the invalidation channel reconnects and may have missed notices. */
  clear(): void {
    this.entries.clear();
    this.inFlight.clear();
    this.generation += 1;
  }

  /** Changes the lifetime of entries stored from now on. */
  setTtl(ttlMs: number): void {
    this.ttlMs = ttlMs;
  }

  get size(): number {
    return this.entries.size;
  }

  async create(input: NewApiKey): Promise<IssuedApiKey> {
    const issued = await this.inner.create(input);
    this.evict(issued.record.id);
    return issued;
  }

  list(filter?: { owner?: string }): Promise<ApiKeyRecord[]> {
    return this.inner.list(filter);
  }

  async revoke(id: string): Promise<boolean> {
    const revoked = await this.inner.revoke(id);
    this.evict(id);
    return revoked;
  }

  async rotate(id: string, graceMs: number): Promise<IssuedApiKey> {
    const successor = await this.inner.rotate(id, graceMs);
    this.evict(id);
    this.evict(successor.record.id);
    return successor;
  }

  touchLastUsed(ids: Iterable<string>, at: number): Promise<void> {
    return this.inner.touchLastUsed(ids, at);
  }

  private async load(id: string): Promise<ApiKeyRecord | undefined> {
    const generation = this.generation;
    const record = await this.inner.findById(id);
    // An eviction during the query means the answer may be stale, so it is not kept.
    if (generation === this.generation) this.remember(id, record);
    return record;
  }

  private remember(id: string, record: ApiKeyRecord | undefined): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(id, { record, until: this.clock.now() + this.ttlMs });
  }
}
