import { hash } from 'node:crypto';

/**
 * Merkle trees over record hashes, in the shape of RFC 6962 (Certificate Transparency). A
 * leaf is SHA-256(0x00 ‖ record hash) and an inner node SHA-256(0x01 ‖ left ‖ right). A tree
 * of n leaves splits at the largest power of two below n. The distinct prefixes keep a leaf
 * from being passed off as an inner node.
 */

const LEAF = 0;
const NODE = 1;
const DIGEST_BYTES = 32;

// Inputs are assembled in reused buffers and hashed with the one-shot `hash` (Node 20.12),
// because a tree has about two nodes per record and a Hash object per node dominated the
// cost. Reuse is safe because `hash` is synchronous and keeps no reference to its input.
const leafInput = Buffer.alloc(1 + DIGEST_BYTES);
const nodeInput = Buffer.alloc(1 + 2 * DIGEST_BYTES);
leafInput[0] = LEAF;
nodeInput[0] = NODE;

export function leafHash(recordHash: string): Buffer {
  const bytes = Buffer.from(recordHash, 'hex');
  if (bytes.length !== DIGEST_BYTES)
    return hash('sha256', Buffer.concat([Buffer.of(LEAF), bytes]), 'buffer');
  bytes.copy(leafInput, 1);
  return hash('sha256', leafInput, 'buffer');
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  if (left.length !== DIGEST_BYTES || right.length !== DIGEST_BYTES) {
    return hash('sha256', Buffer.concat([Buffer.of(NODE), left, right]), 'buffer');
  }
  left.copy(nodeInput, 1);
  right.copy(nodeInput, 1 + DIGEST_BYTES);
  return hash('sha256', nodeInput, 'buffer');
}

/** Returns the root of the tree over `recordHashes` (hex), as hex. An empty tree has none. */
export function merkleRoot(recordHashes: readonly string[]): string {
  if (recordHashes.length === 0) throw new RangeError('a Merkle tree needs at least one leaf');
  // Built level by level. An odd node at the end of a level moves up unpaired, which yields
  // the same root as the recursive split at the largest power of two.
  let level = recordHashes.map(leafHash);
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      next.push(right === undefined ? level[i]! : nodeHash(level[i]!, right));
    }
    level = next;
  }
  return level[0]!.toString('hex');
}

/**
 * Builds the same root as `merkleRoot` one leaf at a time, so that the writer hashes as it
 * commits and a checkpoint costs no pass over its records. It keeps the roots of the perfect
 * subtrees that the binary digits of the leaf count describe, largest first; the root of
 * the whole tree folds them from the right, which is the split at the largest power of two.
 */
export class MerkleAccumulator {
  private readonly subtrees: Array<{ leaves: number; hash: Buffer }> = [];
  private leaves = 0;

  /** Number of leaves added. */
  get size(): number {
    return this.leaves;
  }

  add(recordHash: string): void {
    let subtree = { leaves: 1, hash: leafHash(recordHash) };
    for (;;) {
      const last = this.subtrees[this.subtrees.length - 1];
      if (last === undefined || last.leaves !== subtree.leaves) break;
      this.subtrees.pop();
      subtree = { leaves: last.leaves * 2, hash: nodeHash(last.hash, subtree.hash) };
    }
    this.subtrees.push(subtree);
    this.leaves += 1;
  }

  /** Returns the root over the leaves added, as hex. An empty tree has none. */
  root(): string {
    if (this.subtrees.length === 0) throw new RangeError('a Merkle tree needs at least one leaf');
    let hash = this.subtrees[this.subtrees.length - 1]!.hash;
    for (let i = this.subtrees.length - 2; i >= 0; i -= 1) {
      hash = nodeHash(this.subtrees[i]!.hash, hash);
    }
    return hash.toString('hex');
  }
}

/** The sibling hashes from a leaf up to the root, with the side each sibling is on. */
export interface InclusionProof {
  /** Position of the leaf, counted from 0. */
  index: number;
  /** Number of leaves in the tree. */
  size: number;
  path: Array<{ side: 'left' | 'right'; hash: string }>;
}

/** Builds the proof that the leaf at `index` is part of the tree over `recordHashes`. */
export function inclusionProof(recordHashes: readonly string[], index: number): InclusionProof {
  if (!Number.isInteger(index) || index < 0 || index >= recordHashes.length) {
    throw new RangeError(`leaf ${index} is outside a tree of ${recordHashes.length}`);
  }
  const path: InclusionProof['path'] = [];
  let level = recordHashes.map(leafHash);
  let position = index;
  while (level.length > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < level.length) {
      path.push({
        side: position % 2 === 0 ? 'right' : 'left',
        hash: level[sibling]!.toString('hex'),
      });
    }
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      next.push(right === undefined ? level[i]! : nodeHash(level[i]!, right));
    }
    level = next;
    position = Math.floor(position / 2);
  }
  return { index, size: recordHashes.length, path };
}

/** Checks that `recordHash` with `proof` leads to `root`. */
export function verifyInclusion(recordHash: string, proof: InclusionProof, root: string): boolean {
  let hash = leafHash(recordHash);
  for (const step of proof.path) {
    const sibling = Buffer.from(step.hash, 'hex');
    hash = step.side === 'right' ? nodeHash(hash, sibling) : nodeHash(sibling, hash);
  }
  return hash.toString('hex') === root;
}
