import { createHmac, hash as digest, timingSafeEqual } from 'node:crypto';

/**
 * The stored form of audit records and the hashes that chain them. A record's hash covers
 * every stored column except `seq`, `hash` and the HMAC, so it is computed over the stored
 * (possibly encrypted) body and verification never needs the encryption key. The order of
 * records is fixed by the chain: each record names the hash of its predecessor.
 */

/** Format version inside the hashed envelope. A change of the envelope bumps it. */
export const RECORD_FORMAT = 1;

/** `prevHash` of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

export const recordKinds = ['event', 'checkpoint', 'tombstone'] as const;
export type RecordKind = (typeof recordKinds)[number];

/** One row of the audit log as every store keeps it. */
export interface AuditRecord {
  /** Writer that owns the chain. Every instance appends to a chain of its own. */
  instance: string;
  /** Position in the chain, from 1. Gaps appear only where a tombstone removed records. */
  seq: number;
  kind: RecordKind;
  /** ISO 8601 UTC with milliseconds: the event time, or the writer's time for its own kinds. */
  time: string;
  type: string;
  category: string;
  severity: string;
  /** Canonical JSON of the stored body (see `EventBody`, `CheckpointBody`, `TombstoneBody`). */
  body: string;
  prevHash: string;
  /** SHA-256 over the canonical envelope, hex. */
  hash: string;
  /** HMAC-SHA256 over instance, seq and hash, hex. */
  hmac: string;
  hmacKid: string;
}

/** A stored record with the store's insertion id, used to page through all chains. */
export interface StoredAuditRecord extends AuditRecord {
  id: number;
}

/** Body of an event record: the event, some of whose fields may be sealed. */
export interface EventBody {
  /** The event with every path in `sealed` replaced by ciphertext. */
  event?: Record<string, unknown>;
  /** Dotted paths whose values are ciphertext strings. */
  sealed?: string[];
  /** The whole event as ciphertext, when records are encrypted whole. */
  ciphertext?: string;
}

/**
 * SHA-256 over the canonical JSON of the envelope: the stored columns except seq, hash and
 * HMAC, plus the format version. The text is built in the canonical key order directly,
 * because this runs once per record on append and on verification. A test checks that it
 * equals `canonicalJson(recordEnvelope(record))`.
 */
export function recordHash(record: Omit<AuditRecord, 'seq' | 'hash' | 'hmac' | 'hmacKid'>): string {
  const text =
    `{"body":${JSON.stringify(record.body)},"category":${JSON.stringify(record.category)}` +
    `,"instance":${JSON.stringify(record.instance)},"kind":${JSON.stringify(record.kind)}` +
    `,"prevHash":${JSON.stringify(record.prevHash)},"severity":${JSON.stringify(record.severity)}` +
    `,"time":${JSON.stringify(record.time)},"type":${JSON.stringify(record.type)},"v":${RECORD_FORMAT}}`;
  // The one-shot `hash` (Node 20.12) skips the Hash object that `createHash` allocates.
  return digest('sha256', text, 'hex');
}

/** Returns the envelope that `recordHash` hashes, as an object (for tests and other verifiers). */
export function recordEnvelope(
  record: Omit<AuditRecord, 'seq' | 'hash' | 'hmac' | 'hmacKid'>,
): Record<string, unknown> {
  return {
    v: RECORD_FORMAT,
    instance: record.instance,
    kind: record.kind,
    time: record.time,
    type: record.type,
    category: record.category,
    severity: record.severity,
    body: record.body,
    prevHash: record.prevHash,
  };
}

/**
 * The HMAC binds the hash to its chain position under a secret key. Anyone can recompute
 * SHA-256 hashes after editing the log, so the HMAC is what tells a re-chained forgery from
 * the original when the verifier has the key.
 */
export function recordHmac(key: Buffer, instance: string, seq: number, hash: string): string {
  return createHmac('sha256', key).update(`${instance}\n${seq}\n${hash}`).digest('hex');
}

/** Compares two hex digests in constant time. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}
