import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

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
import { silentLogger, type Logger } from '../core/logger.js';
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
 * Credential stores in one SQLite file, the default for a single gateway. The file is in WAL
 * mode, so readers (the gateway looking up keys) never wait for a writer, and another process
 * such as the `bulwark` CLI can write while the gateway runs. Every call reads the file, so a
 * change made by another process is seen by the next call.
 */

export interface SqliteCredentialOptions {
  /** Path of the database file. Missing directories are created, and a new file is 0600. */
  path: string;
  /** The server pepper for key and secret hashes. */
  pepper: string | Buffer;
  clock?: Clock;
  logger?: Logger;
  /**
   * How long a write waits for another process's write lock, in milliseconds (5 s by default).
   * NOTE: better-sqlite3 is synchronous, so while a write waits, this process's event loop
   * waits too. Reads never wait in WAL mode; the gateway writes only last-use batches and
   * admin changes.
   */
  busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** Schema changes, applied in order. `PRAGMA user_version` records the last one applied. */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE api_keys (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        scopes TEXT NOT NULL,
        plan TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
        replaced_by TEXT
      ) STRICT;
      CREATE INDEX api_keys_owner ON api_keys (owner);

      CREATE TABLE clients (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        scopes TEXT NOT NULL,
        plan TEXT,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX clients_owner ON clients (owner);

      CREATE TABLE client_secrets (
        seq INTEGER PRIMARY KEY,
        client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER
      ) STRICT;
      CREATE INDEX client_secrets_client ON client_secrets (client_id);

      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

      CREATE TABLE signing_keys (
        seq INTEGER PRIMARY KEY,
        kid TEXT NOT NULL UNIQUE,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER
      ) STRICT;
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// SQLite result codes that mean the file cannot be used right now (locked, unreadable, full,
// damaged), as opposed to a bug in a statement.
const UNAVAILABLE_CODES =
  /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|CORRUPT|NOTADB|READONLY|PROTOCOL|NOMEM)/;

/** Opens the four credential stores on one SQLite file; the file is opened on first use. */
export function createSqliteCredentialStores(options: SqliteCredentialOptions): CredentialStores {
  const database = new SqliteCredentialDatabase(options);
  const hasher = new ApiKeyHasher(options.pepper);
  const clock = options.clock ?? systemClock;
  return {
    backend: 'sqlite',
    apiKeys: new SqliteApiKeyStore(database, hasher, clock),
    clients: new SqliteClientStore(database, hasher, clock),
    revokedTokens: new SqliteRevokedTokenStore(database),
    signingKeys: new SqliteSigningKeyStore(database),
    ready: async () => {
      const fingerprint = pepperFingerprint(hasher);
      const stored = await database.run((_, db) => {
        db.prepare(
          "INSERT INTO settings (name, value) VALUES ('pepper_check', ?) ON CONFLICT (name) DO NOTHING",
        ).run(fingerprint);
        const row = db.prepare("SELECT value FROM settings WHERE name = 'pepper_check'").get();
        return (row as { value: string }).value;
      });
      if (stored !== fingerprint) throw pepperMismatch(options.path);
    },
    close: () => database.close(),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** The connection shared by the four stores, and its prepared statements. */
class SqliteCredentialDatabase {
  private db: Database.Database | undefined;
  private statements: Statements | undefined;
  private closed = false;
  private readonly logger: Logger;

  constructor(private readonly options: SqliteCredentialOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Runs `work` with the prepared statements, opening the file first if needed. Errors that
   * mean the file is unusable become StoreUnavailableError, which the caller logs; a failed
   * open is retried by the next call.
   */
  async run<T>(work: (statements: Statements, db: Database.Database) => T): Promise<T> {
    try {
      const db = this.open();
      return work(this.statements!, db);
    } catch (error) {
      throw this.storeError(error);
    }
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.db !== undefined) {
      this.db.close();
      this.db = undefined;
      this.logger.info({ path: this.options.path }, 'SQLite credential store closed');
    }
    return Promise.resolve();
  }

  private open(): Database.Database {
    if (this.closed) throw new StoreUnavailableError('the SQLite credential store is closed');
    if (this.db !== undefined) return this.db;

    const path = this.options.path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // The file contains key hashes and encrypted private keys, so it is created readable by the
    // owner only; SQLite gives the -wal and -shm files the same permissions.
    closeSync(openSync(path, 'a', 0o600));
    const db = new Database(path, {
      timeout: this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    });
    try {
      db.pragma('journal_mode = WAL');
      // better-sqlite3 12 builds SQLite with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1 (NORMAL), which
      // can lose the last commits on power loss. A lost revocation would bring a key back, so
      // every commit is synced.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      this.migrate(db);
      this.statements = prepareStatements(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
    this.logger.info(
      { path, schemaVersion: SQLITE_SCHEMA_VERSION },
      'SQLite credential store opened',
    );
    return db;
  }

  /**
   * Applies missing migrations. BEGIN IMMEDIATE takes the write lock before the version is
   * read, so two processes opening a new file at once apply each migration once.
   */
  private migrate(db: Database.Database): void {
    const version = (): number => db.pragma('user_version', { simple: true }) as number;
    if (version() === SQLITE_SCHEMA_VERSION) return;

    const apply = db.transaction(() => {
      const current = version();
      if (current > SQLITE_SCHEMA_VERSION)
        throw newerSchemaError('SQLite', current, SQLITE_SCHEMA_VERSION);
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        db.exec(migration.sql);
        this.logger.info(
          { path: this.options.path, version: migration.version },
          'SQLite credential schema migrated',
        );
      }
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
    });
    apply.immediate();
  }

  private storeError(error: unknown): unknown {
    if (error instanceof BulwarkError) return error;
    const code = (error as { code?: unknown }).code;
    const systemError = typeof code === 'string' && code.startsWith('E');
    if (typeof code !== 'string' || !(UNAVAILABLE_CODES.test(code) || systemError)) return error;
    return new StoreUnavailableError(
      `the SQLite credential store ${this.options.path} is unavailable: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function prepareStatements(db: Database.Database) {
  return {
    insertKey: db.prepare<[Record<string, unknown>]>(
      `INSERT INTO api_keys (id, hash, env, name, owner, scopes, plan, created_at, expires_at, status)
       VALUES (@id, @hash, @env, @name, @owner, @scopes, @plan, @createdAt, @expiresAt, 'active')
       ON CONFLICT (id) DO NOTHING`,
    ),
    findKey: db.prepare<[string], ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?`),
    listKeys: db.prepare<[{ owner: string | null }], ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE @owner IS NULL OR owner = @owner
       ORDER BY created_at, seq`,
    ),
    revokeKey: db.prepare<[string]>(`UPDATE api_keys SET status = 'revoked' WHERE id = ?`),
    markRotated: db.prepare<[{ id: string; successor: string; expiresAt: number }]>(
      `UPDATE api_keys SET status = 'rotated', replaced_by = @successor, expires_at = @expiresAt
       WHERE id = @id`,
    ),
    // Only moves forward, so a late batch from a slower instance cannot move it back.
    touchKeys: db.prepare<[{ ids: string; at: number }]>(
      `UPDATE api_keys SET last_used_at = @at
       WHERE id IN (SELECT value FROM json_each(@ids)) AND coalesce(last_used_at, 0) < @at`,
    ),

    insertClient: db.prepare<[Record<string, unknown>]>(
      `INSERT INTO clients (id, name, owner, scopes, plan, created_at)
       VALUES (@id, @name, @owner, @scopes, @plan, @createdAt)`,
    ),
    insertSecret: db.prepare<[Record<string, unknown>]>(
      `INSERT INTO client_secrets (client_id, id, hash, created_at)
       VALUES (@clientId, @id, @hash, @createdAt)`,
    ),
    findClient: db.prepare<[string], ClientRow>(
      `SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = ?`,
    ),
    secretsOf: db.prepare<[string], ClientSecretRow>(
      `SELECT ${SECRET_COLUMNS} FROM client_secrets WHERE client_id = ? ORDER BY seq`,
    ),
    listClients: db.prepare<[{ owner: string | null }], ClientRow>(
      `SELECT ${CLIENT_COLUMNS} FROM clients WHERE @owner IS NULL OR owner = @owner
       ORDER BY created_at, seq`,
    ),
    listSecrets: db.prepare<[{ owner: string | null }], ClientSecretRow>(
      `SELECT ${SECRET_COLUMNS} FROM client_secrets
       WHERE client_id IN (SELECT id FROM clients WHERE @owner IS NULL OR owner = @owner)
       ORDER BY seq`,
    ),
    endOverlap: db.prepare<[{ clientId: string; end: number }]>(
      `UPDATE client_secrets SET expires_at = @end
       WHERE client_id = @clientId AND (expires_at IS NULL OR expires_at > @end)`,
    ),
    dropEndedSecrets: db.prepare<[{ clientId: string; now: number }]>(
      `DELETE FROM client_secrets WHERE client_id = @clientId AND expires_at <= @now`,
    ),
    deleteSecrets: db.prepare<[string]>(`DELETE FROM client_secrets WHERE client_id = ?`),
    deleteClient: db.prepare<[string]>(`DELETE FROM clients WHERE id = ?`),

    revokeToken: db.prepare<[string, number]>(
      `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)
       ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
    ),
    findToken: db.prepare<[string], { found: number }>(
      `SELECT 1 AS found FROM revoked_tokens WHERE jti = ?`,
    ),
    purgeTokens: db.prepare<[number]>(`DELETE FROM revoked_tokens WHERE expires_at <= ?`),

    listSigningKeys: db.prepare<[], SigningKeyRow>(
      `SELECT ${SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at, seq`,
    ),
    insertSigningKey: db.prepare<[Record<string, unknown>]>(
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, retired_at)
       VALUES (@kid, @alg, @publicJwk, @privateKey, @createdAt, @retiredAt)
       ON CONFLICT (kid) DO NOTHING`,
    ),
    retireSigningKey: db.prepare<[number, string]>(
      `UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL`,
    ),
    deleteSigningKey: db.prepare<[string]>(`DELETE FROM signing_keys WHERE kid = ?`),
  };
}

class SqliteApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly database: SqliteCredentialDatabase,
    private readonly hasher: ApiKeyHasher,
    private readonly clock: Clock,
  ) {}

  create(input: NewApiKey): Promise<IssuedApiKey> {
    return this.database.run((statements) => this.insert(statements, input));
  }

  findById(id: string): Promise<ApiKeyRecord | undefined> {
    return this.database.run((statements) => {
      const row = statements.findKey.get(id);
      return row === undefined ? undefined : apiKeyFromRow(row);
    });
  }

  list(filter: { owner?: string } = {}): Promise<ApiKeyRecord[]> {
    return this.database.run((statements) =>
      statements.listKeys.all({ owner: filter.owner ?? null }).map(apiKeyFromRow),
    );
  }

  revoke(id: string): Promise<boolean> {
    return this.database.run((statements) => statements.revokeKey.run(id).changes > 0);
  }

  /**
   * Runs in one write transaction, so that another process cannot rotate or revoke the key
   * between the read and the update. Only an active key can be rotated: a second rotation of
   * the same key fails instead of issuing a second successor.
   */
  rotate(id: string, graceMs: number): Promise<IssuedApiKey> {
    return this.database.run((statements, db) =>
      db
        .transaction(() => {
          const row = statements.findKey.get(id);
          const record = row === undefined ? undefined : apiKeyFromRow(row);
          if (record === undefined || record.status !== 'active') throw noActiveKey(id);
          checkGrace(graceMs);

          const successor = this.insert(statements, successorInput(record));
          const end = graceEnd(this.clock.now(), graceMs);
          statements.markRotated.run({
            id,
            successor: successor.record.id,
            expiresAt: Math.min(record.expiresAt ?? Infinity, end),
          });
          return successor;
        })
        .immediate(),
    );
  }

  touchLastUsed(ids: Iterable<string>, at: number): Promise<void> {
    const list = [...ids];
    if (list.length === 0) return Promise.resolve();
    return this.database.run((statements) => {
      statements.touchKeys.run({ ids: JSON.stringify(list), at: epochMs('at', at) });
    });
  }

  private insert(statements: Statements, input: NewApiKey): IssuedApiKey {
    for (;;) {
      const { key, record } = newApiKey(input, this.hasher, this.clock.now());
      const inserted = statements.insertKey.run({
        id: record.id,
        hash: record.hash,
        env: record.env,
        name: record.name,
        owner: record.owner,
        scopes: JSON.stringify(record.scopes),
        plan: record.plan ?? null,
        createdAt: record.createdAt,
        expiresAt: record.expiresAt ?? null,
      });
      // Ids have about 71 bits, so a repeat is unlikely, but a repeat must not replace a key.
      if (inserted.changes === 1) return { key, record };
    }
  }
}

class SqliteClientStore implements ClientStore {
  constructor(
    private readonly database: SqliteCredentialDatabase,
    private readonly hasher: ApiKeyHasher,
    private readonly clock: Clock,
  ) {}

  create(input: NewClient): Promise<IssuedClient> {
    return this.database.run((statements, db) =>
      db.transaction(() => {
        const id = generateClientId();
        const now = this.clock.now();
        statements.insertClient.run({
          id,
          name: input.name,
          owner: input.owner,
          scopes: JSON.stringify(input.scopes ?? []),
          plan: input.plan ?? null,
          createdAt: now,
        });
        const clientSecret = this.insertSecret(statements, id, now);
        return { clientId: id, clientSecret, record: this.read(statements, id)! };
      })(),
    );
  }

  findClient(id: string): Promise<ClientRecord | undefined> {
    return this.database.run((statements, db) => db.transaction(() => this.read(statements, id))());
  }

  listClients(filter: { owner?: string } = {}): Promise<ClientRecord[]> {
    const owner = filter.owner ?? null;
    return this.database.run((statements, db) =>
      db.transaction(() =>
        clientsFromRows(
          statements.listClients.all({ owner }),
          statements.listSecrets.all({ owner }),
        ),
      )(),
    );
  }

  /** Runs in one write transaction, like `rotate` of API keys. */
  rotateSecret(id: string, graceMs: number): Promise<IssuedClient> {
    return this.database.run((statements, db) =>
      db
        .transaction(() => {
          if (statements.findClient.get(id) === undefined) throw noClient(id);
          checkGrace(graceMs);

          const now = this.clock.now();
          statements.endOverlap.run({ clientId: id, end: graceEnd(now, graceMs) });
          // Secrets past their overlap can never match again, so they are dropped.
          statements.dropEndedSecrets.run({ clientId: id, now });
          const clientSecret = this.insertSecret(statements, id, now);
          return { clientId: id, clientSecret, record: this.read(statements, id)! };
        })
        .immediate(),
    );
  }

  deleteClient(id: string): Promise<boolean> {
    return this.database.run((statements, db) =>
      db.transaction(() => {
        statements.deleteSecrets.run(id);
        return statements.deleteClient.run(id).changes > 0;
      })(),
    );
  }

  private insertSecret(statements: Statements, clientId: string, now: number): string {
    const { secret, id } = generateClientSecret();
    statements.insertSecret.run({ clientId, id, hash: this.hasher.hash(secret), createdAt: now });
    return secret;
  }

  private read(statements: Statements, id: string): ClientRecord | undefined {
    const row = statements.findClient.get(id);
    if (row === undefined) return undefined;
    return clientsFromRows([row], statements.secretsOf.all(id))[0];
  }
}

class SqliteRevokedTokenStore implements RevokedTokenStore {
  constructor(private readonly database: SqliteCredentialDatabase) {}

  revokeToken(jti: string, expiresAt: number): Promise<void> {
    return this.database.run((statements) => {
      statements.revokeToken.run(jti, epochMs('expiresAt', expiresAt));
    });
  }

  isTokenRevoked(jti: string): Promise<boolean> {
    return this.database.run((statements) => statements.findToken.get(jti) !== undefined);
  }

  purgeRevokedTokens(now: number): Promise<number> {
    return this.database.run(
      (statements) => statements.purgeTokens.run(epochMs('now', now)).changes,
    );
  }
}

class SqliteSigningKeyStore implements SigningKeyStore {
  constructor(private readonly database: SqliteCredentialDatabase) {}

  listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.database.run((statements) =>
      statements.listSigningKeys.all().map(signingKeyFromRow),
    );
  }

  addSigningKey(record: SigningKeyRecord): Promise<void> {
    return this.database.run((statements) => {
      const inserted = statements.insertSigningKey.run({
        kid: record.kid,
        alg: record.alg,
        publicJwk: record.publicJwk,
        privateKey: record.privateKey,
        createdAt: epochMs('createdAt', record.createdAt),
        retiredAt: optionalEpochMs('retiredAt', record.retiredAt),
      });
      if (inserted.changes === 0) throw signingKeyExists(record.kid);
    });
  }

  retireSigningKey(kid: string, at: number): Promise<void> {
    return this.database.run((statements) => {
      statements.retireSigningKey.run(epochMs('at', at), kid);
    });
  }

  deleteSigningKey(kid: string): Promise<void> {
    return this.database.run((statements) => {
      statements.deleteSigningKey.run(kid);
    });
  }
}
