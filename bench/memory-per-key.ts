/**
 * Measures heap bytes per key of the memory store for each algorithm: 100,000 keys, each
 * having admitted `perKey` requests. Run with `node --expose-gc --import tsx bench/memory-per-key.ts`.
 */
import { MemoryStore } from '../src/ratelimit/memory-store.js';
import { algorithms, type LimitPolicy } from '../src/ratelimit/policy.js';

const KEYS = 100_000;

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

for (const algorithm of algorithms) {
  for (const perKey of [1, 10, 100]) {
    const policy: LimitPolicy = { name: 'm', algorithm, limit: 1000, windowMs: 3_600_000 };
    const before = heapUsed();
    const store = new MemoryStore();
    for (let k = 0; k < KEYS; k++) {
      for (let r = 0; r < perKey; r++)
        store.consume([{ policy, key: `m:198.51.${k >> 8}.${k & 255}`, cost: 1 }]);
    }
    const after = heapUsed();
    console.log(
      `${algorithm.padEnd(24)} ${String(perKey).padStart(3)} requests/key: ${Math.round((after - before) / KEYS)} bytes per key`,
    );
    await store.close();
  }
}
