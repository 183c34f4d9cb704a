import type { SecurityEvent } from '../events/schema.js';
import { canonicalJson } from './canonical.js';
import type { RecordCipher } from './encryption.js';
import type { SecretKeyRing } from './keys.js';
import {
  GENESIS_HASH,
  recordHash,
  recordHmac,
  type AuditRecord,
  type EventBody,
  type RecordKind,
} from './record.js';
import type { ChainHead } from './store.js';

/**
 * Turns events into chained records: assigns seq numbers after the chain's head, encrypts
 * the configured fields, hashes the stored form and adds the HMAC. Runs inside the store's
 * append transaction, because the head is only known there.
 */

export type EncryptionMode = 'none' | 'fields' | 'record';

export interface SealOptions {
  instance: string;
  hmacKeys: SecretKeyRing;
  /** Required unless `mode` is `none`. */
  cipher?: RecordCipher;
  mode: EncryptionMode;
  /** Dotted paths encrypted in `fields` mode. */
  fields: readonly string[];
}

/** A record to append: an event, or a writer record (checkpoint, tombstone) with its body. */
export type RecordEntry =
  | { kind: 'event'; event: SecurityEvent }
  | {
      kind: Exclude<RecordKind, 'event'>;
      time: string;
      type: string;
      body: (seq: number, prevHash: string) => string;
    };

export function sealEntries(
  options: SealOptions,
  head: ChainHead | undefined,
  entries: readonly RecordEntry[],
): AuditRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const { current } = options.hmacKeys;
  const records: AuditRecord[] = [];
  for (const entry of entries) {
    seq += 1;
    const columns =
      entry.kind === 'event'
        ? {
            kind: 'event' as const,
            time: entry.event.time,
            type: entry.event.type,
            category: entry.event.category,
            severity: entry.event.severity,
            body: eventBody(options, seq, entry.event),
          }
        : {
            kind: entry.kind,
            time: entry.time,
            type: entry.type,
            category: 'system',
            severity: 'info',
            body: entry.body(seq, prevHash),
          };
    const unsigned = { instance: options.instance, ...columns, prevHash };
    const hash = recordHash(unsigned);
    records.push({
      ...unsigned,
      seq,
      hash,
      hmac: recordHmac(current.key, options.instance, seq, hash),
      hmacKid: current.kid,
    });
    prevHash = hash;
  }
  return records;
}

/** Associated data of an encrypted value: it cannot be moved to another record or field. */
export function sealAad(instance: string, seq: number, path: string): Buffer {
  return Buffer.from(`bulwark-audit\n${instance}\n${seq}\n${path}`, 'utf8');
}

function eventBody(options: SealOptions, seq: number, event: SecurityEvent): string {
  if (options.mode === 'none' || options.cipher === undefined) return canonicalJson({ event });
  const { cipher, instance } = options;
  if (options.mode === 'record') {
    const body: EventBody = {
      ciphertext: cipher.encryptJson(event, sealAad(instance, seq, '*')),
    };
    return canonicalJson(body);
  }
  // Only the objects on a sealed path are copied: the event belongs to the caller and must
  // not change, and a deep clone of every event was a measurable share of the append cost.
  const copy: Record<string, unknown> = { ...(event as unknown as Record<string, unknown>) };
  const copied = new Set<string>();
  const sealed: string[] = [];
  for (const path of options.fields) {
    const [head, field] = splitPath(path);
    let parent = copy;
    if (field !== undefined) {
      const original = copy[head];
      if (original === null || typeof original !== 'object') continue;
      if (!copied.has(head)) {
        copy[head] = Array.isArray(original) ? [...(original as unknown[])] : { ...original };
        copied.add(head);
      }
      parent = copy[head] as Record<string, unknown>;
    }
    const key = field ?? head;
    if (parent[key] === undefined) continue;
    parent[key] = cipher.encryptJson(parent[key], sealAad(instance, seq, path));
    sealed.push(path);
  }
  const body: EventBody = sealed.length > 0 ? { event: copy, sealed } : { event: copy };
  return canonicalJson(body);
}

/**
 * Reads the event of an event record, decrypting what the cipher can. Returns the event and
 * the paths it could not decrypt (no cipher, or a key missing from the ring); those keep
 * their ciphertext.
 */
export function openEventBody(
  record: Pick<AuditRecord, 'instance' | 'seq' | 'body'>,
  cipher: RecordCipher | undefined,
): { event: Record<string, unknown>; unreadable: string[] } {
  const body = JSON.parse(record.body) as EventBody;
  if (body.ciphertext !== undefined) {
    if (cipher === undefined) return { event: { sealed: body.ciphertext }, unreadable: ['*'] };
    try {
      const event = cipher.decryptJson(body.ciphertext, sealAad(record.instance, record.seq, '*'));
      return { event: event as Record<string, unknown>, unreadable: [] };
    } catch {
      return { event: { sealed: body.ciphertext }, unreadable: ['*'] };
    }
  }
  const event = body.event ?? {};
  const unreadable: string[] = [];
  for (const path of body.sealed ?? []) {
    const [head, field] = splitPath(path);
    const parent = field === undefined ? event : (event[head] as Record<string, unknown>);
    const key = field ?? head;
    const text = parent?.[key];
    if (cipher === undefined || typeof text !== 'string') {
      unreadable.push(path);
      continue;
    }
    try {
      parent[key] = cipher.decryptJson(text, sealAad(record.instance, record.seq, path));
    } catch {
      unreadable.push(path);
    }
  }
  return { event, unreadable };
}

function splitPath(path: string): [string, string | undefined] {
  const dot = path.indexOf('.');
  return dot < 0 ? [path, undefined] : [path.slice(0, dot), path.slice(dot + 1)];
}
