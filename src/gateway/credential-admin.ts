import type { NewApiKey } from '../auth/api-key-store.js';
import type { IssuedClient, NewClient } from '../auth/client-store.js';
import { systemClock, type Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { CredentialStores } from '../storage/credentials.js';
import {
  apiKeyView,
  clientView,
  DEFAULT_GRACE_MS,
  type ApiKeyView,
  type ClientView,
} from './credential-input.js';

/** No API key or client has the id given. */
export class CredentialNotFoundError extends BulwarkError {
  constructor(
    readonly kind: 'API key' | 'OAuth client',
    readonly id: string,
  ) {
    super('BWK_ERR_CREDENTIAL_NOT_FOUND', `no ${kind} with id "${id}"`);
  }
}

/** The operation does not apply to the credential in its current state. */
export class CredentialConflictError extends BulwarkError {
  constructor(message: string) {
    super('BWK_ERR_CREDENTIAL_CONFLICT', message);
  }
}

/** A new key: the plaintext, shown once, and its record. */
export interface IssuedKey {
  key: string;
  record: ApiKeyView;
}

export interface RotatedKey extends IssuedKey {
  /** The old key, now `rotated` and working until its `expiresAt`. */
  previous: ApiKeyView;
}

/** A new client or secret: the plaintext secret, shown once, and the client's record. */
export interface IssuedClientSecret {
  clientId: string;
  clientSecret: string;
  record: ClientView;
}

/**
 * The credential operations of the admin API and the CLI, on top of the stores. It checks
 * ids and states, so both front ends reject the same requests with the same messages, and
 * returns views without hashes. Events, logs and cache notices are left to the caller.
 */
export class CredentialManager {
  constructor(
    private readonly stores: CredentialStores,
    private readonly clock: Clock = systemClock,
    /** Overlap of client secrets after a rotation that names none (`oauth.secretRotationGrace`). */
    readonly clientSecretGraceMs: number = DEFAULT_GRACE_MS,
  ) {}

  async createKey(input: NewApiKey): Promise<IssuedKey> {
    const issued = await this.stores.apiKeys.create(input);
    return { key: issued.key, record: apiKeyView(issued.record, this.clock.now()) };
  }

  /** Lists keys, oldest first. */
  async listKeys(filter: { owner?: string } = {}): Promise<ApiKeyView[]> {
    const records = await this.stores.apiKeys.list(filter);
    records.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    const now = this.clock.now();
    return records.map((record) => apiKeyView(record, now));
  }

  async getKey(id: string): Promise<ApiKeyView> {
    const record = await this.stores.apiKeys.findById(id);
    if (record === undefined) throw new CredentialNotFoundError('API key', id);
    return apiKeyView(record, this.clock.now());
  }

  /**
   * Issues a successor. Only an active key can be rotated: rotating a key that was rotated
   * before would leave two successors, a revoked key must not get one, and the successor of
   * an expired key would inherit its past expiry.
   */
  async rotateKey(id: string, graceMs: number): Promise<RotatedKey> {
    const current = await this.getKey(id);
    if (current.status === 'revoked')
      throw new CredentialConflictError(
        `API key "${id}" is revoked and cannot be rotated; create a new key instead`,
      );
    if (current.status === 'expired')
      throw new CredentialConflictError(
        `API key "${id}" expired at ${current.expiresAt}; create a new key instead`,
      );
    if (current.status === 'rotated')
      throw new CredentialConflictError(
        `API key "${id}" was already rotated; rotate its successor "${current.replacedBy}" instead`,
      );

    const issued = await this.stores.apiKeys.rotate(id, graceMs);
    const previous = await this.getKey(id);
    return {
      key: issued.key,
      record: apiKeyView(issued.record, this.clock.now()),
      previous,
    };
  }

  /** Revokes a key; revoking it again changes nothing. Returns the revoked key. */
  async revokeKey(id: string): Promise<ApiKeyView> {
    if (!(await this.stores.apiKeys.revoke(id))) throw new CredentialNotFoundError('API key', id);
    return this.getKey(id);
  }

  async createClient(input: NewClient): Promise<IssuedClientSecret> {
    return this.clientResult(await this.stores.clients.create(input));
  }

  /** Lists clients, oldest first. */
  async listClients(filter: { owner?: string } = {}): Promise<ClientView[]> {
    const records = await this.stores.clients.listClients(filter);
    records.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    const now = this.clock.now();
    return records.map((record) => clientView(record, now));
  }

  async getClient(id: string): Promise<ClientView> {
    const record = await this.stores.clients.findClient(id);
    if (record === undefined) throw new CredentialNotFoundError('OAuth client', id);
    return clientView(record, this.clock.now());
  }

  async rotateClientSecret(id: string, graceMs: number): Promise<IssuedClientSecret> {
    await this.getClient(id);
    return this.clientResult(await this.stores.clients.rotateSecret(id, graceMs));
  }

  /** Deletes a client with its secrets. Returns the client as it was. */
  async deleteClient(id: string): Promise<ClientView> {
    const client = await this.getClient(id);
    if (!(await this.stores.clients.deleteClient(id)))
      throw new CredentialNotFoundError('OAuth client', id);
    return client;
  }

  private clientResult(issued: IssuedClient): IssuedClientSecret {
    return {
      clientId: issued.clientId,
      clientSecret: issued.clientSecret,
      record: clientView(issued.record, this.clock.now()),
    };
  }
}
