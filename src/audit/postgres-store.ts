import pg from 'pg';

import { StoreUnavailableError } from '../core/errors.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import type { AuditRecord, RecordKind, StoredAuditRecord } from './record.js';
import { recordFromRow, type AuditRow } from './sqlite-store.js';
import type { AuditStore, ChainHead, RecordQuery, SealRecords } from './store.js';

/**
 * The audit log in PostgreSQL, shared by several gateway instances. Each instance appends to
 * its own chain (`instance` column). A transaction-scoped advisory lock per chain serialises
 * two writers that were given the same instance name, so they interleave instead of forking
 * the chain. A commit returns after the WAL is flushed (PostgreSQL's default
 * `synchronous_commit = on`), which is when an append is acknowledged.
 */

export interface PostgresAuditOptions {
  url: string;
  logger?: Logger;
  maxConnections?: number;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS bwk_audit_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance TEXT NOT NULL,
    seq BIGINT NOT NULL,
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
  CREATE INDEX IF NOT EXISTS bwk_audit_records_kind ON bwk_audit_records (instance, kind, seq);
  CREATE INDEX IF NOT EXISTS bwk_audit_records_time ON bwk_audit_records (time);
`;

// Key of the advisory lock taken while creating the schema: the ASCII bytes of "bwk_audt".
const SCHEMA_LOCK = '7165064483209115764';

const COLUMNS =
  'instance, seq, kind, time, type, category, severity, body, prev_hash, hash, hmac, hmac_kid';

export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly endpoint: string;
  private schema: Promise<void> | undefined;

  constructor(options: PostgresAuditOptions) {
    this.logger = options.logger ?? silentLogger;
    this.endpoint = redactUrl(options.url);
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      statement_timeout: options.statementTimeoutMs ?? 5_000,
      application_name: 'bulwark-audit',
    });
    // An idle connection that breaks emits 'error' on the pool; unhandled, it ends the process.
    this.pool.on('error', (error) =>
      this.logger.warn({ err: error, postgres: this.endpoint }, 'audit PostgreSQL connection lost'),
    );
  }

  ready(): Promise<void> {
    this.schema ??= this.createSchema().catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
    return this.schema;
  }

  async append(instance: string, seal: SealRecords): Promise<AuditRecord[]> {
    await this.ready();
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bwk_audit:${instance}`]);
      const { rows } = await client.query<{ seq: string; hash: string }>(
        'SELECT seq, hash FROM bwk_audit_records WHERE instance = $1 ORDER BY seq DESC LIMIT 1',
        [instance],
      );
      const head = rows[0] && { seq: Number(rows[0].seq), hash: rows[0].hash };
      const records = seal(head);
      if (records.length === 0) return records;
      // One multi-row INSERT per batch: 12 parameters a record, within PostgreSQL's 65,535.
      for (let start = 0; start < records.length; start += 2000) {
        const chunk = records.slice(start, start + 2000);
        const values: unknown[] = [];
        const tuples = chunk.map((record, index) => {
          values.push(
            record.instance,
            record.seq,
            record.kind,
            record.time,
            record.type,
            record.category,
            record.severity,
            record.body,
            record.prevHash,
            record.hash,
            record.hmac,
            record.hmacKid,
          );
          const base = index * 12;
          return `(${Array.from({ length: 12 }, (_, i) => `$${base + i + 1}`).join(',')})`;
        });
        await client.query(
          `INSERT INTO bwk_audit_records (${COLUMNS}) VALUES ${tuples.join(',')}`,
          values,
        );
      }
      return records;
    });
  }

  async head(instance: string): Promise<ChainHead | undefined> {
    const { rows } = await this.run<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM bwk_audit_records WHERE instance = $1 ORDER BY seq DESC LIMIT 1',
      [instance],
    );
    return rows[0] && { seq: Number(rows[0].seq), hash: rows[0].hash };
  }

  async instances(): Promise<string[]> {
    const { rows } = await this.run<{ instance: string }>(
      'SELECT DISTINCT instance FROM bwk_audit_records ORDER BY instance',
    );
    return rows.map((row) => row.instance);
  }

  async scan(instance: string, fromSeq: number, limit: number): Promise<AuditRecord[]> {
    const { rows } = await this.run(
      'SELECT * FROM bwk_audit_records WHERE instance = $1 AND seq >= $2 ORDER BY seq LIMIT $3',
      [instance, fromSeq, limit],
    );
    return rows.map(recordFromRow);
  }

  async get(instance: string, seq: number): Promise<AuditRecord | undefined> {
    const { rows } = await this.run(
      'SELECT * FROM bwk_audit_records WHERE instance = $1 AND seq = $2',
      [instance, seq],
    );
    return rows[0] && recordFromRow(rows[0]);
  }

  async scanKind(instance: string, kind: RecordKind): Promise<AuditRecord[]> {
    const { rows } = await this.run(
      'SELECT * FROM bwk_audit_records WHERE instance = $1 AND kind = $2 ORDER BY seq',
      [instance, kind],
    );
    return rows.map(recordFromRow);
  }

  async lastCheckpoint(instance: string): Promise<number | undefined> {
    const { rows } = await this.run<{ seq: string }>(
      "SELECT seq FROM bwk_audit_records WHERE instance = $1 AND kind = 'checkpoint' ORDER BY seq DESC LIMIT 1",
      [instance],
    );
    return rows[0] && Number(rows[0].seq);
  }

  async query(filter: RecordQuery): Promise<StoredAuditRecord[]> {
    const values: unknown[] = [filter.afterId ?? 0];
    const where = ['id > $1'];
    const add = (clause: (placeholder: string) => string, value: unknown): void => {
      values.push(value);
      where.push(clause(`$${values.length}`));
    };
    if (filter.since !== undefined) add((p) => `time >= ${p}`, filter.since);
    if (filter.until !== undefined) add((p) => `time < ${p}`, filter.until);
    if (filter.types !== undefined && filter.types.length > 0)
      add((p) => `type = ANY(${p})`, [...filter.types]);
    if (filter.severities !== undefined && filter.severities.length > 0)
      add((p) => `severity = ANY(${p})`, [...filter.severities]);
    values.push(filter.limit);
    const { rows } = await this.run(
      `SELECT * FROM bwk_audit_records WHERE ${where.join(' AND ')} ORDER BY id ${filter.order === 'desc' ? 'DESC' : 'ASC'} LIMIT $${values.length}`,
      values,
    );
    return rows.map(recordFromRow);
  }

  async count(instance?: string): Promise<number> {
    const { rows } = await this.run<{ n: string }>(
      instance === undefined
        ? 'SELECT count(*) AS n FROM bwk_audit_records'
        : 'SELECT count(*) AS n FROM bwk_audit_records WHERE instance = $1',
      instance === undefined ? [] : [instance],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async remove(instance: string, fromSeq: number, toSeq: number): Promise<number> {
    const result = await this.run(
      'DELETE FROM bwk_audit_records WHERE instance = $1 AND seq BETWEEN $2 AND $3',
      [instance, fromSeq, toSeq],
    );
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async createSchema(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await client.query(SCHEMA);
    });
  }

  private async run<R extends pg.QueryResultRow = AuditRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    await this.ready();
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw new StoreUnavailableError('audit log query failed', { cause: error });
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw new StoreUnavailableError(`cannot reach the audit database ${this.endpoint}`, {
        cause: error,
      });
    }
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error instanceof StoreUnavailableError
        ? error
        : new StoreUnavailableError('audit log transaction failed', { cause: error });
    } finally {
      client.release();
    }
  }
}
