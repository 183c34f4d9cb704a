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

/** Receives changes announced by this or another instance. */
export type CredentialListener = (change: CredentialChange) => void;

const KINDS: ReadonlySet<string> = new Set(['apiKey', 'client', 'token', 'signingKey']);
const MAX_MESSAGE_BYTES = 1024;

/** The pub/sub channel of one deployment, under its Redis key prefix. */
export function invalidationChannel(keyPrefix: string): string {
  return `${keyPrefix}credentials:changed`;
}

export function encodeChange(change: CredentialChange, origin: string): string {
  return JSON.stringify({ kind: change.kind, id: change.id, origin });
}

/**
 * Parses a message from the channel. Anything that is not a well-formed notice is ignored:
 * the channel is shared with whatever else can publish on that Redis.
 */
export function decodeChange(message: string): (CredentialChange & { origin: string }) | undefined {
  if (message.length > MAX_MESSAGE_BYTES) return undefined;
  try {
    const value = JSON.parse(message) as Record<string, unknown>;
    if (typeof value.kind !== 'string' || !KINDS.has(value.kind)) return undefined;
    if (typeof value.id !== 'string' || typeof value.origin !== 'string') return undefined;
    return { kind: value.kind as CredentialKind, id: value.id, origin: value.origin };
  } catch {
    return undefined;
  }
}
