import type { ApiKeyStore } from '../auth/api-key-store.js';
import type { ClientStore, RevokedTokenStore, SigningKeyStore } from '../auth/client-store.js';

/**
 * Every credential the gateway keeps: API keys, OAuth clients, revoked tokens and the OAuth
 * server's signing keys. One backend stores all of them: SQLite in the data directory by
 * default, PostgreSQL when `storage.postgres` is set.
 */
export interface CredentialStores {
  readonly backend: 'memory' | 'sqlite' | 'postgres';
  readonly apiKeys: ApiKeyStore;
  readonly clients: ClientStore;
  readonly revokedTokens: RevokedTokenStore;
  readonly signingKeys: SigningKeyStore;
  /**
   * Resolves once the backend is connected and its schema is up to date. The first call on a
   * new store records a fingerprint of the pepper. Later calls reject with
   * `BWK_ERR_CONFIG_API_KEYS` when the pepper differs, because no key or secret would match.
   */
  ready(): Promise<void>;
  close(): Promise<void>;
}
