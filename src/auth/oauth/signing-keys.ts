import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';

import { systemClock, type Clock } from '../../core/clock.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { SigningKeyRecord, SigningKeyStore } from '../client-store.js';
import type { SigningAlgorithm } from './config-schema.js';
import { PrivateKeyCipher } from './key-cipher.js';

export interface SigningKeyRingOptions {
  store: SigningKeyStore;
  /** The server pepper; the key that encrypts private keys is derived from it. */
  pepper: string | Buffer;
  algorithm: SigningAlgorithm;
  rotateEveryMs: number;
  /** How long a retired key stays published, at least the token lifetime. */
  keepRetiredForMs: number;
  /** Interval of the background check for rotation, cleanup and other instances' keys. */
  maintenanceIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** The key that signs new tokens. */
export interface ActiveSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
}

interface LoadedKey {
  record: SigningKeyRecord;
  publicJwk: JWK;
  /** Imported on first use, then reused. */
  publicKey?: Promise<CryptoKey>;
}

const DEFAULT_MAINTENANCE_INTERVAL_MS = 60_000;
// A token with an unknown `kid` makes this instance read the store again, at most this often
// in real time, so made-up kids cannot turn every request into a store query.
const RELOAD_COOLDOWN_MS = 1_000;
// A `kid` is an RFC 7638 SHA-256 thumbprint: 43 base64url characters.
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/**
 * The OAuth server's signing keys. The newest key that is not retired signs, and older keys
 * stay published in the JWKS until the tokens they signed have expired.
 *
 * Every instance reads the keys from the shared store. A rotation adds the new key first and
 * then retires only keys older than it, so two instances that rotate at once converge on
 * the newer of the two keys. Other instances see a new key at their next maintenance run or
 * on the first token that names it.
 */
export class SigningKeyRing {
  private keys = new Map<string, LoadedKey>();
  private active: ActiveSigningKey | undefined;
  private readonly cipher: PrivateKeyCipher;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private lastKidReload = -Infinity;
  private reloading: Promise<void> | undefined;
  private maintaining: Promise<void> | undefined;

  constructor(private readonly options: SigningKeyRingOptions) {
    this.cipher = new PrivateKeyCipher(options.pepper);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  /** Loads the keys, creates or rotates the signing key when needed, and starts maintenance. */
  async start(): Promise<void> {
    await this.maintain();
    const interval = this.options.maintenanceIntervalMs ?? DEFAULT_MAINTENANCE_INTERVAL_MS;
    this.timer = setInterval(() => {
      this.maintain().catch((error: unknown) =>
        this.logger.error({ err: error }, 'OAuth signing key maintenance failed; retrying later'),
      );
    }, interval);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /**
   * Reloads the keys, rotates the signing key when it is older than `rotateEvery` or uses
   * another algorithm than configured, and deletes retired keys past `keepRetiredFor`.
   */
  maintain(): Promise<void> {
    this.maintaining ??= this.runMaintenance().finally(() => (this.maintaining = undefined));
    return this.maintaining;
  }

  /** Reads the keys from the store again, e.g. after another instance announced a new one. */
  refresh(): Promise<void> {
    return this.reload();
  }

  /** Replaces the signing key with a new one now; resolves with the new key's `kid`. */
  async rotate(): Promise<string> {
    const { algorithm } = this.options;
    const { privateKey, publicKey } = await generateKeyPair(algorithm, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    const privateJwk = await exportJWK(privateKey);
    // The new key must be the newest even when the clock has not moved since the last one
    // was created, or the tie-break by kid could keep the old key signing.
    await this.reload();
    const createdAt = Math.max(this.clock.now(), this.newestCreatedAt() + 1);
    await this.options.store.addSigningKey({
      kid,
      alg: algorithm,
      publicJwk: JSON.stringify(publicJwk),
      privateKey: this.cipher.encrypt(JSON.stringify(privateJwk), kid),
      createdAt,
    });
    this.logger.info({ kid, alg: algorithm }, 'OAuth signing key created');

    // Read again first, so that keys another instance added since the last read are retired too.
    await this.reload();
    for (const { record } of this.keys.values()) {
      if (record.retiredAt === undefined && isOlder(record, { kid, createdAt })) {
        await this.options.store.retireSigningKey(record.kid, this.clock.now());
        this.logger.info({ kid: record.kid, successor: kid }, 'OAuth signing key retired');
      }
    }
    await this.reload();
    return kid;
  }

  /** Returns the key that signs new tokens. Throws before `start` has finished. */
  signingKey(): ActiveSigningKey {
    if (this.active === undefined) throw new Error('OAuth signing keys are not loaded yet');
    return this.active;
  }

  /**
   * Returns the public key for a token's `kid` and `alg`, reading the store again (at most
   * once per second) when the `kid` is unknown here. Resolves undefined when no key matches.
   */
  async verificationKey(kid: string, alg: string): Promise<CryptoKey | undefined> {
    if (!THUMBPRINT.test(kid)) return undefined;
    let loaded = this.keys.get(kid);
    if (loaded === undefined && performance.now() - this.lastKidReload >= RELOAD_COOLDOWN_MS) {
      this.lastKidReload = performance.now();
      try {
        await this.reload();
      } catch (error) {
        // Fails closed: the token is rejected as signed by an unknown key.
        this.logger.error({ err: error, kid }, 'reading OAuth signing keys failed');
      }
      loaded = this.keys.get(kid);
    }
    if (loaded === undefined || loaded.record.alg !== alg) return undefined;
    loaded.publicKey ??= importJWK(loaded.publicJwk, loaded.record.alg) as Promise<CryptoKey>;
    return loaded.publicKey;
  }

  /** Returns the JWKS document: public keys of the signing key and of retired keys still kept. */
  jwks(): { keys: JWK[] } {
    const now = this.clock.now();
    const keys: JWK[] = [];
    for (const { record, publicJwk } of this.keys.values()) {
      if (!this.expired(record, now)) keys.push(publicJwk);
    }
    return { keys };
  }

  private async runMaintenance(): Promise<void> {
    await this.reload();
    const newest = this.newestUnretired();
    const due =
      newest === undefined ||
      newest.alg !== this.options.algorithm ||
      this.clock.now() - newest.createdAt >= this.options.rotateEveryMs;
    if (due) await this.rotate();
    await this.deleteExpired();
  }

  /**
   * Reads every key from the store and switches to the newest unretired one. Concurrent
   * callers share one read.
   */
  private reload(): Promise<void> {
    this.reloading ??= this.readStore().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async readStore(): Promise<void> {
    const records = await this.options.store.listSigningKeys();
    const keys = new Map<string, LoadedKey>();
    for (const record of records) {
      const previous = this.keys.get(record.kid);
      const publicJwk = previous?.publicJwk ?? publishedJwk(record);
      keys.set(record.kid, { record, publicJwk, publicKey: previous?.publicKey });
    }
    this.keys = keys;

    const newest = this.newestUnretired();
    if (newest !== undefined && newest.kid !== this.active?.kid) {
      this.active = await this.decryptActive(newest);
      this.logger.info({ kid: newest.kid, alg: newest.alg }, 'OAuth signing key in use');
    }
  }

  private async decryptActive(record: SigningKeyRecord): Promise<ActiveSigningKey> {
    const privateJwk = JSON.parse(this.cipher.decrypt(record.privateKey, record.kid)) as JWK;
    const privateKey = (await importJWK(privateJwk, record.alg)) as CryptoKey;
    return { kid: record.kid, alg: record.alg, privateKey };
  }

  private async deleteExpired(): Promise<void> {
    const now = this.clock.now();
    for (const { record } of this.keys.values()) {
      if (!this.expired(record, now)) continue;
      await this.options.store.deleteSigningKey(record.kid);
      this.keys.delete(record.kid);
      this.logger.info({ kid: record.kid }, 'OAuth signing key removed from the JWKS');
    }
  }

  private expired(record: SigningKeyRecord, now: number): boolean {
    return (
      record.retiredAt !== undefined && now >= record.retiredAt + this.options.keepRetiredForMs
    );
  }

  private newestCreatedAt(): number {
    let newest = -Infinity;
    for (const { record } of this.keys.values()) newest = Math.max(newest, record.createdAt);
    return newest;
  }

  private newestUnretired(): SigningKeyRecord | undefined {
    let newest: SigningKeyRecord | undefined;
    for (const { record } of this.keys.values()) {
      if (record.retiredAt !== undefined) continue;
      if (newest === undefined || isOlder(newest, record)) newest = record;
    }
    return newest;
  }
}

/** Orders keys by creation time, then by `kid` so that every instance picks the same one. */
function isOlder(
  a: Pick<SigningKeyRecord, 'kid' | 'createdAt'>,
  b: Pick<SigningKeyRecord, 'kid' | 'createdAt'>,
): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.kid < b.kid);
}

/** Builds the public JWK as published, with the members verifiers use to pick it. */
function publishedJwk(record: SigningKeyRecord): JWK {
  const jwk = JSON.parse(record.publicJwk) as JWK;
  return { ...pickPublic(jwk), kid: record.kid, alg: record.alg, use: 'sig' };
}

// Only the public members are copied, so a damaged record can never publish a private `d`.
function pickPublic(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  const out: JWK = { kty };
  if (crv !== undefined) out.crv = crv;
  if (x !== undefined) out.x = x;
  if (y !== undefined) out.y = y;
  return out;
}
