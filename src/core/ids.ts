import { randomFillSync } from 'node:crypto';

import { v7 as uuidv7 } from 'uuid';

// One getrandom call per 256 ids instead of one per id: the per-call cost showed up in
// request-handling profiles. The bytes still come from the operating system's CSPRNG.
const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let offset = pool.length;

// uuid keeps ids monotonic only when it draws its own random bytes, so the millisecond and
// the 32-bit sequence that follows it are tracked here: a new millisecond starts a random
// sequence, a repeated one increments it, and an overflow borrows the next millisecond.
let lastMsecs = -Infinity;
let sequence = 0;

function pooledRandom(): Uint8Array {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  return bytes;
}

/** Returns a time-ordered UUIDv7, used for event ids and request ids. */
export function newId(): string {
  const random = pooledRandom();
  const now = Date.now();
  if (now > lastMsecs) {
    lastMsecs = now;
    // 31 random bits leave room to count up before the sequence overflows.
    sequence =
      ((random[6]! << 23) | (random[7]! << 15) | (random[8]! << 7) | (random[9]! >>> 1)) >>> 0;
  } else {
    sequence = (sequence + 1) >>> 0;
    if (sequence === 0) lastMsecs += 1;
  }
  return uuidv7({ random, msecs: lastMsecs, seq: sequence });
}
