import type { RevokedTokenStore } from '../client-store.js';

export interface RevocationCacheOptions {
  /** How long a "not revoked" result is reused, in milliseconds of real time. */
  ttlMs?: number;
  /** Entries kept at most; the oldest is dropped first. */
  maxEntries?: number;
}

interface Entry {
  revoked: boolean;
  /** `performance.now()` at which a "not revoked" result goes stale. */
  until: number;
}

const DEFAULT_TTL_MS = 1_000;
const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * Remembers revocation lookups by `jti`, so a client that repeats a token costs one store
 * query per second instead of one per request. A revocation is permanent, so a "revoked"
 * result is kept until the entry is evicted. A "not revoked" result is reused for `ttlMs`.
 * A revocation on another instance evicts the entry here through `forget` when the
 * credential change channel (Redis) is up, and within `ttlMs` when it is not.
 */
export class RevocationCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly store: RevokedTokenStore,
    options: RevocationCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** Answers from memory when it can, otherwise from the store. */
  isRevoked(jti: string): boolean | Promise<boolean> {
    const entry = this.entries.get(jti);
    if (entry !== undefined && (entry.revoked || performance.now() < entry.until))
      return entry.revoked;
    return this.store.isTokenRevoked(jti).then((revoked) => {
      this.remember(jti, revoked);
      return revoked;
    });
  }

  /** Stores the revocation until `expiresAt` (epoch milliseconds) and remembers it here. */
  async revoke(jti: string, expiresAt: number): Promise<void> {
    await this.store.revokeToken(jti, expiresAt);
    this.remember(jti, true);
  }

  /** Drops the entry, so the next lookup reads the store. */
  forget(jti: string): void {
    this.entries.delete(jti);
  }

  private remember(jti: string, revoked: boolean): void {
    this.entries.delete(jti);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(jti, { revoked, until: performance.now() + this.ttlMs });
  }
}
