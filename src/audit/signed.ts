import { sign, verify, type KeyObject } from 'node:crypto';

import { canonicalJson } from './canonical.js';

/**
 * Bodies of the writer's own records, signed with Ed25519 so that anyone holding the public
 * key can check them: checkpoints (a Merkle root over a range of records) and tombstones
 * (records removed by the retention policy). The signature covers the canonical JSON of
 * every other field.
 */

export interface CheckpointBody {
  instance: string;
  /** First and last seq the Merkle tree covers, both inclusive. */
  fromSeq: number;
  toSeq: number;
  /** Records in the range; fewer than the span when retention had removed some before. */
  count: number;
  /** Merkle root (RFC 6962 shape) over the record hashes in seq order, hex. */
  root: string;
  /** Hash of the record at `toSeq`. */
  lastHash: string;
  time: string;
  kid: string;
  signature: string;
}

/** A run of consecutive records removed by retention. */
export interface RemovedRun {
  fromSeq: number;
  toSeq: number;
  count: number;
  /** Hash of the record at `toSeq`, which the record after the run links to. */
  lastHash: string;
}

export interface TombstoneBody {
  /** The chain the records were removed from. */
  instance: string;
  reason: 'retention';
  /** Categories whose retention expired, with their retention in days. */
  categories: Record<string, number>;
  removed: RemovedRun[];
  /** Name of the archive holding the removed records, in the configured target. */
  archive: string;
  archiveTarget: string;
  time: string;
  kid: string;
  signature: string;
}

export function signBody<T extends { kid: string; signature: string }>(
  unsigned: Omit<T, 'signature'>,
  privateKey: KeyObject,
): T {
  const signature = sign(null, Buffer.from(canonicalJson(unsigned)), privateKey).toString(
    'base64url',
  );
  return { ...unsigned, signature } as T;
}

/** Checks the signature with the public key the body's `kid` names; false when unknown. */
export function verifyBody(
  body: { kid: string; signature: string },
  publicKeys: (kid: string) => KeyObject | undefined,
): boolean {
  const key = publicKeys(body.kid);
  if (key === undefined || typeof body.signature !== 'string') return false;
  const { signature, ...unsigned } = body;
  try {
    return verify(
      null,
      Buffer.from(canonicalJson(unsigned)),
      key,
      Buffer.from(signature, 'base64url'),
    );
  } catch {
    return false;
  }
}
