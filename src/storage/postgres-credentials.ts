import pg from 'pg';

import { ApiKeyHasher, type ApiKeyRecord, type ApiKeyStore } from '../auth/api-key-store.js';
import type { IssuedApiKey, NewApiKey } from '../auth/api-key-store.js';
import {
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
import { BulwarkError, StoreUnavailableError } from '../core/errors.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import {
  apiKeyFromRow,
  checkGrace,
  CLIENT_COLUMNS,
  clientsFromRows,
  epochMs,
  graceEnd,
  KEY_COLUMNS,
  newApiKey,
  newerSchemaError,
  noActiveKey,
  noClient,
  optionalEpochMs,
  SECRET_COLUMNS,
  SIGNING_KEY_COLUMNS,
  signingKeyExists,
  signingKeyFromRow,
  successorInput,
  type ApiKeyRow,
  type ClientRow,
  type ClientSecretRow,
  type SigningKeyRow,
  pepperFingerprint,
  pepperMismatch,
} from './credential-records.js';
import type { CredentialStores } from './credentials.js';

/**
 * Credential stores in PostgreSQL, shared by every gateway instance and the CLI. Tables are
 * prefixed `bwk_`, so the database can be shared with other applications. Times are BIGINT
 * epoch milliseconds.
 */

export interface PostgresCredentialOptions {
  /** A `postgres://` URL. */
  url: string;
  /** The server pepper for key and secret hashes. */
  pepper: string | Buffer;
  clock?: Clock;
  logger?: Logger;
  /** Connections in the pool, 10 by default. */
  maxConnections?: number;
  /** How long to wait for a connection, in milliseconds (5 s by default). */
  connectTimeoutMs?: number;
  /** Server-side limit of one statement, in milliseconds (5 s by default). */
  statementTimeoutMs?: number;
}

/** Schema changes, applied in order; `bwk_schema_migrations` records those applied. */
const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'credentials',
    sql: `
      CREATE TABLE bwk_api_keys (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        scopes TEXT[] NOT NULL,
        plan TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        last_used_at BIGINT,
        status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
        replaced_by TEXT
      );
      CREATE INDEX bwk_api_keys_owner ON bwk_api_keys (owner);

      CREATE TABLE bwk_clients (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        scopes TEXT[] NOT NULL,
        plan TEXT,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX bwk_clients_owner ON bwk_clients (owner);

      CREATE TABLE bwk_client_secrets (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        client_id TEXT NOT NULL REFERENCES bwk_clients (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT
      );
      CREATE INDEX bwk_client_secrets_client ON bwk_client_secrets (client_id);

      CREATE TABLE bwk_revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX bwk_revoked_tokens_expiry ON bwk_revoked_tokens (expires_at);

      CREATE TABLE bwk_signing_keys (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT
      );
    `,
  },
  {
    version: 2,
    name: 'settings',
    sql: `
      CREATE TABLE bwk_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// Key of the advisory lock held while migrating: the ASCII bytes of "bwk_migr".
const MIGRATION_LOCK = '7095006541263497586';

// SQLSTATE classes that mean the server cannot serve requests now: 08 connection exception,
// 28 invalid authorization, 53 insufficient resources, 57 operator intervention (shutdown,
// statement timeout) and 58 system error. 3D000 means the database does not exist.
const UNAVAILABLE_SQLSTATE = /^(08|28|53|57|58)...$|^3D000$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

type Query = <R extends pg.QueryResultRow>(
  text: string,
  values?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** Opens the four credential stores on one PostgreSQL pool; `ready()` applies migrations. */
export function createPostgresCredentialStores(
  options: PostgresCredentialOptions,
): CredentialStores {
  const database = new PostgresCredentialDatabase(options);
  const hasher = new ApiKeyHasher(options.pepper);
  const clock = options.clock ?? systemClock;
  return {
    backend: 'postgres',
    apiKeys: new PostgresApiKeyStore(database, hasher, clock),
    clients: new PostgresClientStore(database, hasher, clock),
    revokedTokens: new PostgresRevokedTokenStore(database),
    signingKeys: new PostgresSigningKeyStore(database),
    ready: async () => {
      await database.ready();
      const fingerprint = pepperFingerprint(hasher);
      await database.query(
        "INSERT INTO bwk_settings (name, value) VALUES ('pepper_check', $1) ON CONFLICT (name) DO NOTHING",
        [fingerprint],
      );
      const { rows } = await database.query<{ value: string }>(
        "SELECT value FROM bwk_settings WHERE name = 'pepper_check'",
      );
      if (rows[0]?.value !== fingerprint) throw pepperMismatch(redactUrl(options.url));
    },
    close: () => database.close(),
  };
}

/** The pool shared by the four stores, with migrations, transactions and error mapping. */
class PostgresCredentialDatabase {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly endpoint: string;
  private migrated: Promise<void> | undefined;
  private closed = false;

  constructor(options: PostgresCredentialOptions) {
    this.logger = options.logger ?? silentLogger;
    this.endpoint = redactUrl(options.url);
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      statement_timeout: options.statementTimeoutMs ?? 5_000,
      application_name: 'bulwark',
      keepAlive: true,
    });
    // An idle connection that breaks (server restart, network) emits 'error' on the pool, and
    // an unhandled 'error' event would end the process. The next query opens a new connection.
    this.pool.on('error', (error) =>
      this.logger.warn(
        { err: error, postgres: this.endpoint },
        'idle PostgreSQL connection failed',
      ),
    );
  }

  /**
   * Applies missing migrations once per process. A failure is not kept: the next call tries
   * again, so a gateway started while PostgreSQL is down recovers when it comes back.
   */
  ready(): Promise<void> {
    this.migrated ??= this.migrate().catch((error: unknown) => {
      this.migrated = undefined;
      throw this.storeError(error);
    });
    return this.migrated;
  }

  async query<R extends pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    await this.ready();
    this.assertOpen();
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw this.storeError(error);
    }
  }

  /** Runs `work` in a transaction on one connection; any error rolls it back. */
  async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    await this.ready();
    const client = await this.connect();
    let broken = false;
    const query: Query = async (text, values) => {
      try {
        return await client.query(text, values);
      } catch (error) {
        throw this.storeError(error);
      }
    };
    try {
      await query('BEGIN');
      const result = await work(query);
      await query('COMMIT');
      return result;
    } catch (error) {
      // A connection whose rollback fails is in an unknown state, so it is discarded.
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
    this.logger.info({ postgres: this.endpoint }, 'PostgreSQL credential store closed');
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('the PostgreSQL credential store is closed');
  }

  private async connect(): Promise<pg.PoolClient> {
    this.assertOpen();
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.storeError(error);
    }
  }

  /**
   * Applies migrations in one transaction under a transaction-level advisory lock, so that
   * gateways starting at once wait for each other and each migration runs once. DDL in
   * PostgreSQL is transactional, so a failed migration leaves nothing half done.
   */
  private async migrate(): Promise<void> {
    const client = await this.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK]);
      await client.query(`CREATE TABLE IF NOT EXISTS bwk_schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
      const applied = await client.query<{ version: number }>(
        'SELECT version FROM bwk_schema_migrations',
      );
      const versions = new Set(applied.rows.map((row) => row.version));
      const newest = Math.max(0, ...versions);
      if (newest > POSTGRES_SCHEMA_VERSION)
        throw newerSchemaError('PostgreSQL', newest, POSTGRES_SCHEMA_VERSION);

      for (const migration of MIGRATIONS) {
        if (versions.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO bwk_schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        this.logger.info(
          { postgres: this.endpoint, version: migration.version },
          'PostgreSQL credential schema migrated',
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw error;
    } finally {
      client.release(broken);
    }
    this.logger.info(
      { postgres: this.endpoint, schemaVersion: POSTGRES_SCHEMA_VERSION },
      'PostgreSQL credential store ready',
    );
  }

  /**
   * Turns an error meaning "PostgreSQL cannot answer" into StoreUnavailableError with the
   * cause. Errors without a SQLSTATE come from the connection (refused, reset, timed out);
   * other SQLSTATEs are bugs or data errors and pass through unchanged. Nothing is logged
   * here: the caller logs with its own context, such as the request id.
   */
  private storeError(error: unknown): unknown {
    if (error instanceof BulwarkError) return error;
    const code = (error as { code?: unknown }).code;
    const sqlstate = typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
    if (sqlstate !== undefined && !UNAVAILABLE_SQLSTATE.test(sqlstate)) return error;
    return new StoreUnavailableError(
      `the PostgreSQL credential store at ${this.endpoint} is unavailable: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

class PostgresApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly database: PostgresCredentialDatabase,
    private readonly hasher: ApiKeyHasher,
    private readonly clock: Clock,
  ) {}

  create(input: NewApiKey): Promise<IssuedApiKey> {
    return this.insert((text, values) => this.database.query(text, values), input);
  }

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.database.query<ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM bwk_api_keys WHERE id = $1`,
      [id],
    );
    return rows[0] === undefined ? undefined : apiKeyFromRow(rows[0]);
  }

  async list(filter: { owner?: string } = {}): Promise<ApiKeyRecord[]> {
    const { rows } = await this.database.query<ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM bwk_api_keys WHERE $1::text IS NULL OR owner = $1
       ORDER BY created_at, seq`,
      [filter.owner ?? null],
    );
    return rows.map(apiKeyFromRow);
  }

  async revoke(id: string): Promise<boolean> {
    const result = await this.database.query(
      `UPDATE bwk_api_keys SET status = 'revoked' WHERE id = $1`,
      [id],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * Locks the key's row (SELECT … FOR UPDATE) for the transaction. A concurrent rotation of
   * the same key waits for the lock, then reads status `rotated` and fails, so exactly one
   * successor is issued.
   */
  rotate(id: string, graceMs: number): Promise<IssuedApiKey> {
    return this.database.transaction(async (query) => {
      const { rows } = await query<ApiKeyRow>(
        `SELECT ${KEY_COLUMNS} FROM bwk_api_keys WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const record = rows[0] === undefined ? undefined : apiKeyFromRow(rows[0]);
      if (record === undefined || record.status !== 'active') throw noActiveKey(id);
      checkGrace(graceMs);

      const successor = await this.insert(query, successorInput(record));
      const end = graceEnd(this.clock.now(), graceMs);
      await query(
        `UPDATE bwk_api_keys SET status = 'rotated', replaced_by = $2, expires_at = $3
         WHERE id = $1`,
        [id, successor.record.id, Math.min(record.expiresAt ?? Infinity, end)],
      );
      return successor;
    });
  }

  /** Updates the whole batch in one statement, and moves times only forward. */
  async touchLastUsed(ids: Iterable<string>, at: number): Promise<void> {
    const list = [...ids];
    if (list.length === 0) return;
    await this.database.query(
      `UPDATE bwk_api_keys SET last_used_at = $2
       WHERE id = ANY($1::text[]) AND coalesce(last_used_at, 0) < $2`,
      [list, epochMs('at', at)],
    );
  }

  private async insert(query: Query, input: NewApiKey): Promise<IssuedApiKey> {
    for (;;) {
      const { key, record } = newApiKey(input, this.hasher, this.clock.now());
      const inserted = await query(
        `INSERT INTO bwk_api_keys
           (id, hash, env, name, owner, scopes, plan, created_at, expires_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active')
         ON CONFLICT (id) DO NOTHING`,
        [
          record.id,
          record.hash,
          record.env,
          record.name,
          record.owner,
          record.scopes,
          record.plan ?? null,
          record.createdAt,
          record.expiresAt ?? null,
        ],
      );
      // Ids have about 71 bits, so a repeat is unlikely, but a repeat must not replace a key.
      if (inserted.rowCount === 1) return { key, record };
    }
  }
}

class PostgresClientStore implements ClientStore {
  constructor(
    private readonly database: PostgresCredentialDatabase,
    private readonly hasher: ApiKeyHasher,
    private readonly clock: Clock,
  ) {}

  create(input: NewClient): Promise<IssuedClient> {
    return this.database.transaction(async (query) => {
      const id = generateClientId();
      const now = this.clock.now();
      await query(
        `INSERT INTO bwk_clients (id, name, owner, scopes, plan, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, input.name, input.owner, input.scopes ?? [], input.plan ?? null, now],
      );
      const clientSecret = await this.insertSecret(query, id, now);
      return { clientId: id, clientSecret, record: (await this.read(query, id))! };
    });
  }

  findClient(id: string): Promise<ClientRecord | undefined> {
    return this.read((text, values) => this.database.query(text, values), id);
  }

  /** Reads clients and their secrets with one statement each, in one snapshot. */
  listClients(filter: { owner?: string } = {}): Promise<ClientRecord[]> {
    const owner = filter.owner ?? null;
    return this.database.transaction(async (query) => {
      await query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const clients = await query<ClientRow>(
        `SELECT ${CLIENT_COLUMNS} FROM bwk_clients WHERE $1::text IS NULL OR owner = $1
         ORDER BY created_at, seq`,
        [owner],
      );
      const secrets = await query<ClientSecretRow>(
        `SELECT ${SECRET_COLUMNS} FROM bwk_client_secrets WHERE client_id IN
           (SELECT id FROM bwk_clients WHERE $1::text IS NULL OR owner = $1)
         ORDER BY seq`,
        [owner],
      );
      return clientsFromRows(clients.rows, secrets.rows);
    });
  }

  /** Locks the client's row for the transaction, like `rotate` of API keys. */
  rotateSecret(id: string, graceMs: number): Promise<IssuedClient> {
    return this.database.transaction(async (query) => {
      const locked = await query('SELECT id FROM bwk_clients WHERE id = $1 FOR UPDATE', [id]);
      if (locked.rowCount === 0) throw noClient(id);
      checkGrace(graceMs);

      const now = this.clock.now();
      await query(
        `UPDATE bwk_client_secrets SET expires_at = $2
         WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)`,
        [id, graceEnd(now, graceMs)],
      );
      // Secrets past their overlap can never match again, so they are dropped.
      await query('DELETE FROM bwk_client_secrets WHERE client_id = $1 AND expires_at <= $2', [
        id,
        now,
      ]);
      const clientSecret = await this.insertSecret(query, id, now);
      return { clientId: id, clientSecret, record: (await this.read(query, id))! };
    });
  }

  async deleteClient(id: string): Promise<boolean> {
    // The secrets go with the client (ON DELETE CASCADE).
    const result = await this.database.query('DELETE FROM bwk_clients WHERE id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  private async insertSecret(query: Query, clientId: string, now: number): Promise<string> {
    const { secret, id } = generateClientSecret();
    await query(
      `INSERT INTO bwk_client_secrets (client_id, id, hash, created_at) VALUES ($1, $2, $3, $4)`,
      [clientId, id, this.hasher.hash(secret), now],
    );
    return secret;
  }

  // One statement, so the client and its secrets come from one snapshot.
  private async read(query: Query, id: string): Promise<ClientRecord | undefined> {
    const { rows } = await query<ClientRow & { secrets: ClientSecretRow[] | null }>(
      `SELECT ${CLIENT_COLUMNS},
         (SELECT json_agg(s ORDER BY s.seq) FROM
            (SELECT ${SECRET_COLUMNS}, seq FROM bwk_client_secrets WHERE client_id = c.id) s
         ) AS secrets
       FROM bwk_clients c WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return clientsFromRows([row], row.secrets ?? [])[0];
  }
}

class PostgresRevokedTokenStore implements RevokedTokenStore {
  constructor(private readonly database: PostgresCredentialDatabase) {}

  async revokeToken(jti: string, expiresAt: number): Promise<void> {
    await this.database.query(
      `INSERT INTO bwk_revoked_tokens (jti, expires_at) VALUES ($1, $2)
       ON CONFLICT (jti) DO UPDATE
       SET expires_at = greatest(bwk_revoked_tokens.expires_at, excluded.expires_at)`,
      [jti, epochMs('expiresAt', expiresAt)],
    );
  }

  async isTokenRevoked(jti: string): Promise<boolean> {
    const result = await this.database.query('SELECT 1 FROM bwk_revoked_tokens WHERE jti = $1', [
      jti,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async purgeRevokedTokens(now: number): Promise<number> {
    const result = await this.database.query(
      'DELETE FROM bwk_revoked_tokens WHERE expires_at <= $1',
      [epochMs('now', now)],
    );
    return result.rowCount ?? 0;
  }
}

class PostgresSigningKeyStore implements SigningKeyStore {
  constructor(private readonly database: PostgresCredentialDatabase) {}

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.database.query<SigningKeyRow>(
      `SELECT ${SIGNING_KEY_COLUMNS} FROM bwk_signing_keys ORDER BY created_at, seq`,
    );
    return rows.map(signingKeyFromRow);
  }

  async addSigningKey(record: SigningKeyRecord): Promise<void> {
    const inserted = await this.database.query(
      `INSERT INTO bwk_signing_keys (kid, alg, public_jwk, private_key, created_at, retired_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (kid) DO NOTHING`,
      [
        record.kid,
        record.alg,
        record.publicJwk,
        record.privateKey,
        epochMs('createdAt', record.createdAt),
        optionalEpochMs('retiredAt', record.retiredAt),
      ],
    );
    if (inserted.rowCount === 0) throw signingKeyExists(record.kid);
  }

  async retireSigningKey(kid: string, at: number): Promise<void> {
    await this.database.query(
      'UPDATE bwk_signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL',
      [kid, epochMs('at', at)],
    );
  }

  async deleteSigningKey(kid: string): Promise<void> {
    await this.database.query('DELETE FROM bwk_signing_keys WHERE kid = $1', [kid]);
  }
}
