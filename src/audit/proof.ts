import type { KeyObject } from 'node:crypto';

import { inclusionProof, verifyInclusion, type InclusionProof } from './merkle.js';
import { digestsEqual, recordHash, type AuditRecord } from './record.js';
import { verifyBody, type CheckpointBody } from './signed.js';
import type { AuditStore } from './store.js';

/**
 * Inclusion proofs: evidence that one record is part of a signed checkpoint, checkable with
 * the record, the proof and the public key alone, without the rest of the log.
 */

export interface RecordProof {
  record: AuditRecord;
  proof: InclusionProof;
  /** The signed checkpoint whose Merkle root the proof leads to. */
  checkpoint: CheckpointBody;
}

/**
 * Builds the proof for the record at `seq` from the first checkpoint that covers it.
 * Returns undefined when the record is missing or no checkpoint covers it yet.
 */
export async function proveRecord(
  store: AuditStore,
  instance: string,
  seq: number,
): Promise<RecordProof | undefined> {
  const record = await store.get(instance, seq);
  if (record === undefined) return undefined;
  const checkpoints = await store.scanKind(instance, 'checkpoint');
  const covering = checkpoints
    .map((cp) => JSON.parse(cp.body) as CheckpointBody)
    .find((body) => body.fromSeq <= seq && seq <= body.toSeq);
  if (covering === undefined) return undefined;
  const hashes: string[] = [];
  let index = -1;
  for (let from = covering.fromSeq; from <= covering.toSeq;) {
    const page = await store.scan(instance, from, 5000);
    if (page.length === 0) break;
    for (const item of page) {
      if (item.seq > covering.toSeq) break;
      if (item.seq === seq) index = hashes.length;
      hashes.push(item.hash);
    }
    from = page[page.length - 1]!.seq + 1;
  }
  // Retention removed part of the range: the root can no longer be rebuilt.
  if (index < 0 || hashes.length !== covering.count) return undefined;
  return { record, proof: inclusionProof(hashes, index), checkpoint: covering };
}

/** Checks a proof: the record's own hash, the path to the root, and the signature. */
export function verifyRecordProof(
  proof: RecordProof,
  publicKeys: (kid: string) => KeyObject | undefined,
): boolean {
  return (
    digestsEqual(recordHash(proof.record), proof.record.hash) &&
    verifyInclusion(proof.record.hash, proof.proof, proof.checkpoint.root) &&
    verifyBody(proof.checkpoint, publicKeys) &&
    proof.record.instance === proof.checkpoint.instance
  );
}
