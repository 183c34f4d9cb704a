import { createHash } from 'node:crypto';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { canonicalJson } from '../../src/audit/canonical.js';
import {
  inclusionProof,
  MerkleAccumulator,
  merkleRoot,
  verifyInclusion,
} from '../../src/audit/merkle.js';
import { recordEnvelope, recordHash } from '../../src/audit/record.js';

function hashes(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    createHash('sha256').update(String(i)).digest('hex'),
  );
}

/** Computes the root by the recursive definition of RFC 6962, section 2.1, as the reference. */
function referenceRoot(leaves: string[]): Buffer {
  if (leaves.length === 1) {
    return createHash('sha256')
      .update(Buffer.from([0]))
      .update(Buffer.from(leaves[0]!, 'hex'))
      .digest();
  }
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return createHash('sha256')
    .update(Buffer.from([1]))
    .update(referenceRoot(leaves.slice(0, k)))
    .update(referenceRoot(leaves.slice(k)))
    .digest();
}

describe('merkle tree', () => {
  it('root matches the RFC 6962 definition', () => {
    for (const size of [1, 2, 3, 4, 5, 7, 8, 9, 100, 1000]) {
      expect(merkleRoot(hashes(size))).toBe(referenceRoot(hashes(size)).toString('hex'));
    }
  });

  it('empty tree is rejected', () => {
    expect(() => merkleRoot([])).toThrow(RangeError);
    expect(() => new MerkleAccumulator().root()).toThrow(RangeError);
  });

  it('accumulator root matches the reference at every size', () => {
    const leaves = hashes(300);
    const tree = new MerkleAccumulator();
    leaves.forEach((leaf, i) => {
      tree.add(leaf);
      expect(tree.size).toBe(i + 1);
      expect(tree.root()).toBe(referenceRoot(leaves.slice(0, i + 1)).toString('hex'));
    });
  });

  it('every leaf has a valid inclusion proof', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), (size, pick) => {
        const leaves = hashes(size);
        const index = pick % size;
        const root = merkleRoot(leaves);
        const proof = inclusionProof(leaves, index);
        expect(verifyInclusion(leaves[index]!, proof, root)).toBe(true);
        const other = leaves[(index + 1) % size]!;
        if (size > 1) expect(verifyInclusion(other, proof, root)).toBe(false);
      }),
    );
  });

  it('proof index outside the tree is rejected', () => {
    expect(() => inclusionProof(hashes(3), 3)).toThrow(RangeError);
  });
});

describe('canonical JSON', () => {
  it('sorts keys and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: undefined } })).toBe(
      '{"a":{"d":[1,"x",null]},"b":1}',
    );
  });

  it('equal values give equal text whatever the key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())), (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
      }),
    );
  });

  it('non-finite numbers are rejected', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
  });
});

describe('record hash', () => {
  it('hashes the canonical JSON of the envelope', () => {
    const record = {
      instance: 'gw-1',
      kind: 'event' as const,
      time: '2026-12-01T12:00:00.000Z',
      type: 'auth.failure',
      category: 'authentication',
      severity: 'medium',
      body: '{"event":{"path":"/a\\"b\\u2028"}}',
      prevHash: '0'.repeat(64),
    };
    const expected = createHash('sha256')
      .update(canonicalJson(recordEnvelope(record)))
      .digest('hex');
    expect(recordHash(record)).toBe(expected);
  });
});
