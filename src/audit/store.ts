import type { AuditRecord, RecordKind, StoredAuditRecord } from './record.js';

/**
 * The storage contract of the audit log. SQLite and PostgreSQL implement it, and one
 * contract suite runs against both. Each instance appends to a chain of its own, so several
 * gateways can share one PostgreSQL database without coordinating a global order.
 */

/** The last record of a chain, which the next record links to. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Builds the records of one append from the chain's head, inside the store's transaction. */
export type SealRecords = (head: ChainHead | undefined) => AuditRecord[];

/** A filter over all chains, in insertion order. */
export interface RecordQuery {
  /** Only records stored after this insertion id. */
  afterId?: number;
  /** ISO time, inclusive. */
  since?: string;
  /** ISO time, exclusive. */
  until?: string;
  /** `desc` returns the newest first, for a tail. */
  order?: 'asc' | 'desc';
  types?: readonly string[];
  severities?: readonly string[];
  limit: number;
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates the tables when missing. */
  ready(): Promise<void>;
  /**
   * Reads the chain's head and appends what `seal` builds in one transaction, so that the
   * records are durable when the promise resolves. Writers of the same chain are serialised.
   */
  append(instance: string, seal: SealRecords): Promise<AuditRecord[]>;
  head(instance: string): Promise<ChainHead | undefined>;
  /** Every instance that has a chain, sorted. */
  instances(): Promise<string[]>;
  /** Records of one chain with `seq >= fromSeq`, ascending, at most `limit`. */
  scan(instance: string, fromSeq: number, limit: number): Promise<AuditRecord[]>;
  /** The record at `seq`, if present. */
  get(instance: string, seq: number): Promise<AuditRecord | undefined>;
  /** Every record of one kind in a chain, ascending (tombstones are few). */
  scanKind(instance: string, kind: RecordKind): Promise<AuditRecord[]>;
  /** The seq of the newest checkpoint of a chain. */
  lastCheckpoint(instance: string): Promise<number | undefined>;
  /** Records across chains matching the filter, by insertion id. */
  query(filter: RecordQuery): Promise<StoredAuditRecord[]>;
  /** Records in all chains, or in one. */
  count(instance?: string): Promise<number>;
  /** Removes the records `fromSeq..toSeq` of a chain. Only retention calls it. */
  remove(instance: string, fromSeq: number, toSeq: number): Promise<number>;
  close(): Promise<void>;
}
