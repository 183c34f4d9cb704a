import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

import { StoreUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AuditRecord, RecordKind, StoredAuditRecord } from './record.js';
import type { AuditStore, ChainHead, RecordQuery, SealRecords } from './store.js';
import { BackgroundWalCheckpoints } from './wal-checkpoint.js';

/**
 * The audit log in one SQLite file, the default for a single gateway.
 *
 * Durability: the file is in WAL mode with `synchronous = FULL`, so every commit syncs the
 * WAL before it returns and an acknowledged append survives a crash of the process and of
 * the machine. `NORMAL` would only survive a crash of the process. Group commit pays that
 * sync once per batch, not once per event. Once the log is busy, WAL checkpoints run on a
 * worker thread (see `BackgroundWalCheckpoints`), so that appends do not wait for them.
 */

export interface SqliteAuditOptions {
  path: string;
  /** `full` (the default) syncs every commit; `normal` syncs at checkpoints of the WAL. */
  synchronous?: 'full' | 'normal';
  /** Receives the start and failures of background WAL checkpoints. */
  logger?: Logger;
  /**
   * Opens an existing file read-only, for verification: a missing file or a file without the
   * audit table is an error, and nothing is created or written.
   */
  readOnly?: boolean;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS audit_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    category TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    hmac TEXT NOT NULL,
    hmac_kid TEXT NOT NULL,
    UNIQUE (instance, seq)
  );
  CREATE INDEX IF NOT EXISTS audit_records_kind ON audit_records (instance, kind, seq);
  CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time);
`;

// A type alias, not an interface, so that it satisfies pg's QueryResultRow index signature.
export type AuditRow = {
  id: number;
  instance: string;
  seq: number;
  kind: string;
  time: string;
  type: string;
  category: string;
  severity: string;
  body: string;
  prev_hash: string;
  hash: string;
  hmac: string;
  hmac_kid: string;
};

export function recordFromRow(row: AuditRow): StoredAuditRecord {
  return {
    id: Number(row.id),
    instance: row.instance,
    seq: Number(row.seq),
    kind: row.kind as RecordKind,
    time: row.time,
    type: row.type,
    category: row.category,
    severity: row.severity,
    body: row.body,
    prevHash: row.prev_hash,
    hash: row.hash,
    hmac: row.hmac,
    hmacKid: row.hmac_kid,
  };
}

function openReadOnly(path: string): Database.Database {
  if (!existsSync(path)) {
    throw new StoreUnavailableError(
      `the audit log ${path} does not exist: check the working folder, --config and dataDir`,
    );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const table = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_records'")
      .get();
    if (table !== undefined) return db;
  } catch (error) {
    db?.close();
    throw new StoreUnavailableError(`cannot open the audit log ${path}`, { cause: error });
  }
  db.close();
  throw new StoreUnavailableError(`${path} is not an audit log: it has no audit_records table`);
}

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly headQuery: Database.Statement;
  private readonly appendTx: (instance: string, seal: SealRecords) => AuditRecord[];
  private readonly walCheckpoints: BackgroundWalCheckpoints;

  constructor(options: SqliteAuditOptions) {
    const readOnly = options.readOnly === true;
    const synchronous = options.synchronous === 'normal' ? 'NORMAL' : 'FULL';
    if (readOnly) {
      this.db = openReadOnly(options.path);
    } else {
      mkdirSync(dirname(options.path), { recursive: true });
      try {
        this.db = new Database(options.path);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${synchronous}`);
        this.db.pragma('busy_timeout = 5000');
        this.db.exec(SCHEMA);
      } catch (error) {
        throw new StoreUnavailableError(`cannot open the audit log ${options.path}`, {
          cause: error,
        });
      }
    }
    this.insert = this.db.prepare(
      `INSERT INTO audit_records (instance, seq, kind, time, type, category, severity, body, prev_hash, hash, hmac, hmac_kid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.headQuery = this.db.prepare(
      'SELECT seq, hash FROM audit_records WHERE instance = ? ORDER BY seq DESC LIMIT 1',
    );
    const transaction = this.db.transaction((instance: string, seal: SealRecords) => {
      const records = seal(this.readHead(instance));
      // Positional parameters: binding named ones from an object costs a lookup per column.
      for (const r of records) {
        this.insert.run(
          r.instance,
          r.seq,
          r.kind,
          r.time,
          r.type,
          r.category,
          r.severity,
          r.body,
          r.prevHash,
          r.hash,
          r.hmac,
          r.hmacKid,
        );
      }
      return records;
    });
    // IMMEDIATE takes the write lock before the head is read, so that two processes
    // appending to one chain cannot both build on the same head.
    this.appendTx = (instance, seal) => transaction.immediate(instance, seal);
    this.walCheckpoints = new BackgroundWalCheckpoints(
      this.db,
      options.path,
      synchronous,
      options.logger,
    );
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  append(instance: string, seal: SealRecords): Promise<AuditRecord[]> {
    try {
      const records = this.appendTx(instance, seal);
      this.walCheckpoints.noteAppended(records.length);
      return Promise.resolve(records);
    } catch (error) {
      return Promise.reject(new StoreUnavailableError('audit log append failed', { cause: error }));
    }
  }

  head(instance: string): Promise<ChainHead | undefined> {
    return Promise.resolve(this.readHead(instance));
  }

  instances(): Promise<string[]> {
    const rows = this.db
      .prepare('SELECT DISTINCT instance FROM audit_records ORDER BY instance')
      .all() as Array<{ instance: string }>;
    return Promise.resolve(rows.map((row) => row.instance));
  }

  scan(instance: string, fromSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = this.db
      .prepare('SELECT * FROM audit_records WHERE instance = ? AND seq >= ? ORDER BY seq LIMIT ?')
      .all(instance, fromSeq, limit) as AuditRow[];
    return Promise.resolve(rows.map(recordFromRow));
  }

  get(instance: string, seq: number): Promise<AuditRecord | undefined> {
    const row = this.db
      .prepare('SELECT * FROM audit_records WHERE instance = ? AND seq = ?')
      .get(instance, seq) as AuditRow | undefined;
    return Promise.resolve(row && recordFromRow(row));
  }

  scanKind(instance: string, kind: RecordKind): Promise<AuditRecord[]> {
    const rows = this.db
      .prepare('SELECT * FROM audit_records WHERE instance = ? AND kind = ? ORDER BY seq')
      .all(instance, kind) as AuditRow[];
    return Promise.resolve(rows.map(recordFromRow));
  }

  lastCheckpoint(instance: string): Promise<number | undefined> {
    const row = this.db
      .prepare(
        "SELECT seq FROM audit_records WHERE instance = ? AND kind = 'checkpoint' ORDER BY seq DESC LIMIT 1",
      )
      .get(instance) as { seq: number } | undefined;
    return Promise.resolve(row && Number(row.seq));
  }

  query(filter: RecordQuery): Promise<StoredAuditRecord[]> {
    const where: string[] = ['id > ?'];
    const params: unknown[] = [filter.afterId ?? 0];
    if (filter.since !== undefined) {
      where.push('time >= ?');
      params.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push('time < ?');
      params.push(filter.until);
    }
    if (filter.types !== undefined && filter.types.length > 0) {
      where.push(`type IN (${filter.types.map(() => '?').join(',')})`);
      params.push(...filter.types);
    }
    if (filter.severities !== undefined && filter.severities.length > 0) {
      where.push(`severity IN (${filter.severities.map(() => '?').join(',')})`);
      params.push(...filter.severities);
    }
    params.push(filter.limit);
    const rows = this.db
      .prepare(
        `SELECT * FROM audit_records WHERE ${where.join(' AND ')} ORDER BY id ${filter.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`,
      )
      .all(...params) as AuditRow[];
    return Promise.resolve(rows.map(recordFromRow));
  }

  count(instance?: string): Promise<number> {
    const row = (
      instance === undefined
        ? this.db.prepare('SELECT count(*) AS n FROM audit_records').get()
        : this.db
            .prepare('SELECT count(*) AS n FROM audit_records WHERE instance = ?')
            .get(instance)
    ) as { n: number };
    return Promise.resolve(Number(row.n));
  }

  remove(instance: string, fromSeq: number, toSeq: number): Promise<number> {
    const result = this.db
      .prepare('DELETE FROM audit_records WHERE instance = ? AND seq BETWEEN ? AND ?')
      .run(instance, fromSeq, toSeq);
    return Promise.resolve(result.changes);
  }

  async close(): Promise<void> {
    await this.walCheckpoints.close();
    if (this.db.open) this.db.close();
  }

  /** The underlying handle, for tests that tamper with the file as an attacker would. */
  get database(): Database.Database {
    return this.db;
  }

  private readHead(instance: string): ChainHead | undefined {
    const row = this.headQuery.get(instance) as { seq: number; hash: string } | undefined;
    return row && { seq: Number(row.seq), hash: row.hash };
  }
}
