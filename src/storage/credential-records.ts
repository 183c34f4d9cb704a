import { generateApiKey } from '../auth/api-key-format.js';
import type { ApiKeyHasher, ApiKeyRecord, ApiKeyStatus, NewApiKey } from '../auth/api-key-store.js';
import type { ClientRecord, ClientSecretRecord, SigningKeyRecord } from '../auth/client-store.js';
import { BulwarkError, ConfigError, InvalidArgumentError } from '../core/errors.js';

/**
 * Rows and rules shared by the SQLite and PostgreSQL credential stores, so that both behave
 * like the memory stores: the same validation, the same error messages, the same records.
 * The memory client and signing key stores raise their errors through the builders here too.
 * Column names are the same in both schemas. Times are epoch milliseconds in integer columns,
 * which PostgreSQL returns as strings (BIGINT) and SQLite as numbers.
 */

type StoredTime = number | string | bigint;

export interface ApiKeyRow {
  id: string;
  hash: string;
  env: string;
  name: string;
  owner: string;
  /** A text array in PostgreSQL, JSON text in SQLite. */
  scopes: string[] | string;
  plan: string | null;
  created_at: StoredTime;
  expires_at: StoredTime | null;
  last_used_at: StoredTime | null;
  status: string;
  replaced_by: string | null;
}

export interface ClientRow {
  id: string;
  name: string;
  owner: string;
  scopes: string[] | string;
  plan: string | null;
  created_at: StoredTime;
}

export interface ClientSecretRow {
  client_id: string;
  id: string;
  hash: string;
  created_at: StoredTime;
  expires_at: StoredTime | null;
}

export interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: string;
  private_key: string;
  created_at: StoredTime;
  retired_at: StoredTime | null;
}

// The columns of the row types above, in their order, as the SELECT lists of both stores.
export const KEY_COLUMNS =
  'id, hash, env, name, owner, scopes, plan, created_at, expires_at, last_used_at, status, replaced_by';
export const CLIENT_COLUMNS = 'id, name, owner, scopes, plan, created_at';
export const SECRET_COLUMNS = 'client_id, id, hash, created_at, expires_at';
export const SIGNING_KEY_COLUMNS = 'kid, alg, public_jwk, private_key, created_at, retired_at';

/** Computes an HMAC of a fixed text under the pepper, stored once to detect a different pepper later. */
export function pepperFingerprint(hasher: ApiKeyHasher): string {
  return hasher.hash('bulwark pepper check');
}

/**
 * Builds the error for a pepper that differs from the one the store's keys and secrets were
 * hashed with. None of them would match, and this error names the cause at start, where
 * "unknown key" on every request would not.
 */
export function pepperMismatch(where: string): ConfigError {
  return new ConfigError('environment', [
    {
      path: 'auth.apiKeys.pepperEnv',
      value: where,
      message:
        'the pepper differs from the one the credentials in this store were created with, so no API key or client secret would match; set the original pepper',
      code: 'BWK_ERR_CONFIG_API_KEYS',
    },
  ]);
}

/** Returns the error raised when a newer Bulwark has migrated the database. */
export function newerSchemaError(backend: string, found: number, supported: number): BulwarkError {
  return new BulwarkError(
    'BWK_ERR_STORE_SCHEMA',
    `the ${backend} credential database has schema version ${found}, but this Bulwark supports up to ${supported}; upgrade Bulwark or restore a backup made before the upgrade`,
  );
}

export function noActiveKey(id: string): InvalidArgumentError {
  return new InvalidArgumentError(`no active API key with id "${id}"`);
}

export function noClient(id: string): InvalidArgumentError {
  return new InvalidArgumentError(`no OAuth client with id "${id}"`);
}

export function signingKeyExists(kid: string): InvalidArgumentError {
  return new InvalidArgumentError(`signing key "${kid}" exists`);
}

export function checkGrace(graceMs: number): void {
  if (!Number.isFinite(graceMs) || graceMs < 0)
    throw new InvalidArgumentError(`invalid grace period ${graceMs} ms: use 0 or more`);
}

/**
 * Returns the end of a grace period as an integer time. It is rounded up and capped at the
 * largest safe integer, so that any finite grace period fits an integer column.
 */
export function graceEnd(now: number, graceMs: number): number {
  return Math.min(Math.ceil(now + graceMs), Number.MAX_SAFE_INTEGER);
}

/**
 * Checks a time before it goes into an integer column. The memory stores keep any number,
 * but a column cannot hold a fraction, so a non-integer is rejected instead of rounded.
 */
export function epochMs(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(
      `invalid ${field} ${value}: use epoch milliseconds, a non-negative integer`,
    );
  return value;
}

export function optionalEpochMs(field: string, value: number | undefined): number | null {
  return value === undefined ? null : epochMs(field, value);
}

/** Builds the record of a new key, and returns the plaintext key beside it. */
export function newApiKey(
  input: NewApiKey,
  hasher: ApiKeyHasher,
  now: number,
): { key: string; record: ApiKeyRecord } {
  const generated = generateApiKey(input.env);
  const record: ApiKeyRecord = {
    id: generated.keyId,
    hash: hasher.hash(generated.secret),
    env: input.env,
    name: input.name,
    owner: input.owner,
    scopes: [...(input.scopes ?? [])],
    createdAt: now,
    status: 'active',
  };
  if (input.plan !== undefined) record.plan = input.plan;
  if (input.expiresAt !== undefined) record.expiresAt = epochMs('expiresAt', input.expiresAt);
  return { key: generated.secret, record };
}

/** Returns the metadata a successor copies from the key it replaces. */
export function successorInput(record: ApiKeyRecord): NewApiKey {
  return {
    env: record.env,
    name: record.name,
    owner: record.owner,
    scopes: record.scopes,
    plan: record.plan,
    expiresAt: record.expiresAt,
  };
}

export function apiKeyFromRow(row: ApiKeyRow): ApiKeyRecord {
  const record: ApiKeyRecord = {
    id: row.id,
    hash: row.hash,
    env: row.env,
    name: row.name,
    owner: row.owner,
    scopes: scopesOf(row.scopes),
    createdAt: Number(row.created_at),
    status: row.status as ApiKeyStatus,
  };
  if (row.plan !== null) record.plan = row.plan;
  if (row.expires_at !== null) record.expiresAt = Number(row.expires_at);
  if (row.last_used_at !== null) record.lastUsedAt = Number(row.last_used_at);
  if (row.replaced_by !== null) record.replacedBy = row.replaced_by;
  return record;
}

/** Builds client records from client rows and the secret rows of those clients, in order. */
export function clientsFromRows(
  clients: readonly ClientRow[],
  secrets: readonly ClientSecretRow[],
): ClientRecord[] {
  const byClient = new Map<string, ClientSecretRecord[]>();
  for (const row of secrets) {
    const list = byClient.get(row.client_id) ?? [];
    list.push(secretFromRow(row));
    byClient.set(row.client_id, list);
  }
  return clients.map((row) => {
    const record: ClientRecord = {
      id: row.id,
      name: row.name,
      owner: row.owner,
      scopes: scopesOf(row.scopes),
      createdAt: Number(row.created_at),
      secrets: byClient.get(row.id) ?? [],
    };
    if (row.plan !== null) record.plan = row.plan;
    return record;
  });
}

function secretFromRow(row: ClientSecretRow): ClientSecretRecord {
  const secret: ClientSecretRecord = {
    id: row.id,
    hash: row.hash,
    createdAt: Number(row.created_at),
  };
  if (row.expires_at !== null) secret.expiresAt = Number(row.expires_at);
  return secret;
}

export function signingKeyFromRow(row: SigningKeyRow): SigningKeyRecord {
  const record: SigningKeyRecord = {
    kid: row.kid,
    alg: row.alg as SigningKeyRecord['alg'],
    publicJwk: row.public_jwk,
    privateKey: row.private_key,
    createdAt: Number(row.created_at),
  };
  if (row.retired_at !== null) record.retiredAt = Number(row.retired_at);
  return record;
}

function scopesOf(value: string[] | string): string[] {
  return Array.isArray(value) ? [...value] : (JSON.parse(value) as string[]);
}
