import { MemoryApiKeyStore, ApiKeyHasher } from '../auth/api-key-store.js';
import {
  endOverlap,
  generateClientId,
  generateClientSecret,
  type ClientRecord,
  type ClientStore,
  type IssuedClient,
  type NewClient,
  type RevokedTokenStore,
  type SigningKeyRecord,
  type SigningKeyStore,
} from '../auth/client-store.js';
import { systemClock, type Clock } from '../core/clock.js';
import { checkGrace, noClient, signingKeyExists } from './credential-records.js';
import type { CredentialStores } from './credentials.js';

export interface MemoryCredentialOptions {
  /** The server pepper for key and secret hashes. */
  pepper: string | Buffer;
  clock?: Clock;
}

/** Credential stores in process memory: for tests and library use; nothing survives a restart. */
export function createMemoryCredentialStores(options: MemoryCredentialOptions): CredentialStores {
  const clock = options.clock ?? systemClock;
  return {
    backend: 'memory',
    apiKeys: new MemoryApiKeyStore({ pepper: options.pepper, clock }),
    clients: new MemoryClientStore(options.pepper, clock),
    revokedTokens: new MemoryRevokedTokenStore(),
    signingKeys: new MemorySigningKeyStore(),
    ready: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

export class MemoryClientStore implements ClientStore {
  private readonly clients = new Map<string, ClientRecord>();
  private readonly hasher: ApiKeyHasher;

  constructor(
    pepper: string | Buffer,
    private readonly clock: Clock = systemClock,
  ) {
    this.hasher = new ApiKeyHasher(pepper);
  }

  create(input: NewClient): Promise<IssuedClient> {
    const { secret, id: secretId } = generateClientSecret();
    const now = this.clock.now();
    const record: ClientRecord = {
      id: generateClientId(),
      name: input.name,
      owner: input.owner,
      scopes: [...(input.scopes ?? [])],
      createdAt: now,
      secrets: [{ id: secretId, hash: this.hasher.hash(secret), createdAt: now }],
    };
    if (input.plan !== undefined) record.plan = input.plan;
    this.clients.set(record.id, record);
    return Promise.resolve({
      clientId: record.id,
      clientSecret: secret,
      record: copyClient(record),
    });
  }

  findClient(id: string): Promise<ClientRecord | undefined> {
    const record = this.clients.get(id);
    return Promise.resolve(record === undefined ? undefined : copyClient(record));
  }

  listClients(filter: { owner?: string } = {}): Promise<ClientRecord[]> {
    const all = [...this.clients.values()].filter(
      (record) => filter.owner === undefined || record.owner === filter.owner,
    );
    return Promise.resolve(all.map(copyClient));
  }

  async rotateSecret(id: string, graceMs: number): Promise<IssuedClient> {
    const record = this.clients.get(id);
    if (record === undefined) throw noClient(id);
    checkGrace(graceMs);
    const now = this.clock.now();
    endOverlap(record.secrets, now + graceMs);
    // Secrets past their overlap can never match again, so they are dropped.
    record.secrets = record.secrets.filter((stored) => (stored.expiresAt ?? Infinity) > now);
    const { secret, id: secretId } = generateClientSecret();
    record.secrets.push({ id: secretId, hash: this.hasher.hash(secret), createdAt: now });
    return { clientId: id, clientSecret: secret, record: copyClient(record) };
  }

  deleteClient(id: string): Promise<boolean> {
    return Promise.resolve(this.clients.delete(id));
  }
}

export class MemoryRevokedTokenStore implements RevokedTokenStore {
  private readonly revoked = new Map<string, number>();

  revokeToken(jti: string, expiresAt: number): Promise<void> {
    this.revoked.set(jti, Math.max(expiresAt, this.revoked.get(jti) ?? 0));
    return Promise.resolve();
  }

  isTokenRevoked(jti: string): Promise<boolean> {
    return Promise.resolve(this.revoked.has(jti));
  }

  purgeRevokedTokens(now: number): Promise<number> {
    let removed = 0;
    for (const [jti, expiresAt] of this.revoked) {
      if (expiresAt <= now) {
        this.revoked.delete(jti);
        removed += 1;
      }
    }
    return Promise.resolve(removed);
  }
}

export class MemorySigningKeyStore implements SigningKeyStore {
  private readonly keys = new Map<string, SigningKeyRecord>();

  listSigningKeys(): Promise<SigningKeyRecord[]> {
    const all = [...this.keys.values()].sort((a, b) => a.createdAt - b.createdAt);
    return Promise.resolve(all.map((record) => ({ ...record })));
  }

  addSigningKey(record: SigningKeyRecord): Promise<void> {
    if (this.keys.has(record.kid)) return Promise.reject(signingKeyExists(record.kid));
    this.keys.set(record.kid, { ...record });
    return Promise.resolve();
  }

  retireSigningKey(kid: string, at: number): Promise<void> {
    const record = this.keys.get(kid);
    if (record !== undefined && record.retiredAt === undefined) record.retiredAt = at;
    return Promise.resolve();
  }

  deleteSigningKey(kid: string): Promise<void> {
    this.keys.delete(kid);
    return Promise.resolve();
  }
}

function copyClient(record: ClientRecord): ClientRecord {
  return {
    ...record,
    scopes: [...record.scopes],
    secrets: record.secrets.map((stored) => ({ ...stored })),
  };
}
