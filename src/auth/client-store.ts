import { randomBase62 } from './api-key-format.js';
import type { ApiKeyHasher } from './api-key-store.js';

/**
 * Storage of OAuth 2.0 clients (client-credentials grant). Like API keys, client secrets
 * are high-entropy values generated here, so they are kept as HMAC-SHA256 under the server
 * pepper (see `ApiKeyHasher`) and returned in plain text once, by `create` and `rotateSecret`.
 */

/** One secret of a client. Several are valid at once while a rotation overlaps. */
export interface ClientSecretRecord {
  /** A non-secret id of this secret, for listing and logs. */
  id: string;
  /** HMAC-SHA256 of the secret under the server pepper, hex-encoded. */
  hash: string;
  /** Times in epoch milliseconds. */
  createdAt: number;
  /** Set by rotation to the end of the overlap; absent while the secret is current. */
  expiresAt?: number;
}

export interface ClientRecord {
  /** The `client_id`, not secret. */
  id: string;
  name: string;
  owner: string;
  /** Scopes the client may request; a token carries a subset. */
  scopes: string[];
  /** Rate-limit tier of the client's tokens. */
  plan?: string;
  createdAt: number;
  secrets: ClientSecretRecord[];
}

export interface NewClient {
  name: string;
  owner: string;
  scopes?: string[];
  plan?: string;
}

/** A client as returned once, at creation or secret rotation, with its plaintext secret. */
export interface IssuedClient {
  clientId: string;
  clientSecret: string;
  record: ClientRecord;
}

export interface ClientStore {
  create(input: NewClient): Promise<IssuedClient>;
  findClient(id: string): Promise<ClientRecord | undefined>;
  listClients(filter?: { owner?: string }): Promise<ClientRecord[]>;
  /**
   * Adds a new secret. Secrets that were current keep working for `graceMs` (shortened where
   * one expires earlier), then stop. Rejects for an unknown client.
   */
  rotateSecret(id: string, graceMs: number): Promise<IssuedClient>;
  /** Removes a client and its secrets. Resolves false when no client has that id. */
  deleteClient(id: string): Promise<boolean>;
}

/**
 * Revoked access tokens (RFC 7009), by `jti`. An entry is needed only until the token
 * expires, so each is kept until `expiresAt` and may be purged after.
 */
export interface RevokedTokenStore {
  revokeToken(jti: string, expiresAt: number): Promise<void>;
  isTokenRevoked(jti: string): Promise<boolean>;
  /** Deletes entries whose token has expired; resolves the number removed. */
  purgeRevokedTokens(now: number): Promise<number>;
}

/**
 * A signing key of the OAuth server. The private key is stored encrypted by the caller
 * (`privateKey` is opaque text to the store); the public JWK is published in the JWKS.
 */
export interface SigningKeyRecord {
  kid: string;
  alg: 'EdDSA' | 'ES256';
  /** The public key as a JWK, JSON text. */
  publicJwk: string;
  /** The private key, encrypted by the OAuth server before storing. */
  privateKey: string;
  createdAt: number;
  /**
   * Set when a newer key took over. A retired key signs nothing but stays in the JWKS until
   * tokens it signed have expired.
   */
  retiredAt?: number;
}

export interface SigningKeyStore {
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  addSigningKey(record: SigningKeyRecord): Promise<void>;
  retireSigningKey(kid: string, at: number): Promise<void>;
  deleteSigningKey(kid: string): Promise<void>;
}

export const CLIENT_ID_PREFIX = 'bwc_';
export const CLIENT_SECRET_PREFIX = 'bws_';

/** Generates a client id: `bwc_` and 20 base62 characters. */
export function generateClientId(): string {
  return CLIENT_ID_PREFIX + randomBase62(20);
}

/** Generates a secret (`bws_` and 43 base62 characters, about 256 bits) and its listing id. */
export function generateClientSecret(): { secret: string; id: string } {
  return { secret: CLIENT_SECRET_PREFIX + randomBase62(43), id: randomBase62(8) };
}

/**
 * Returns whether `secret` is one of the client's secrets that is valid at `now`. Every
 * stored secret is compared, in constant time, so timing does not reveal which one matched.
 */
export function clientSecretMatches(
  record: ClientRecord,
  secret: string,
  hasher: ApiKeyHasher,
  now: number,
): boolean {
  let matched = false;
  for (const stored of record.secrets) {
    const valid = stored.expiresAt === undefined || now < stored.expiresAt;
    if (hasher.matches(secret, stored.hash) && valid) matched = true;
  }
  return matched;
}

/** Sets the end of the overlap on every current secret, as `rotateSecret` must. */
export function endOverlap(secrets: ClientSecretRecord[], graceEnd: number): void {
  for (const stored of secrets) stored.expiresAt = Math.min(stored.expiresAt ?? Infinity, graceEnd);
}
