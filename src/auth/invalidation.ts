/**
 * Credential changes that other gateway instances must hear about: a revoked or rotated API
 * key, a client whose secret rotated or that was deleted, a revoked token, a new signing key.
 * Each instance caches credentials, and a change evicts the cached entry everywhere.
 */
export type CredentialKind = 'apiKey' | 'client' | 'token' | 'signingKey';

export interface CredentialChange {
  kind: CredentialKind;
  /** Key id, client id, token `jti` or signing key `kid`. */
  id: string;
}

/** Announces credential changes to this process's caches and to other instances. */
export interface CredentialNotifier {
  notify(change: CredentialChange): Promise<void>;
}
