/**
 * Compares Bulwark's in-memory rate limiting with rate-limiter-flexible's RateLimiterMemory
 * in one process. Every contender gets the same 10,000 keys in round robin, the same limit
 * and window, and a fixed number of checks per run. Each run starts from a fresh limiter, so
 * all runs get the same workload. After one warm-up run each, the contenders' runs alternate
 * for several rounds, in reverse order every other round. Prints the median checks per second
 * and the ratio ours / theirs: the median over rounds of each round's ratio, which cancels
 * most of the drift of a loaded machine, with the lowest and highest round beside it.
 *
 * rate-limiter-flexible counts in a fixed window, so the sliding window counter is the
 * comparable algorithm; the log and GCRA are reported too. Two workloads: every check
 * admitted, and half of them rejected (the limit is half the checks each key receives).
 * rate-limiter-flexible's `consume` returns a promise, so its loop awaits each check; ours
 * are measured both synchronously and awaited.
 *
 * With all three algorithms in one process, as in a gateway with mixed policies, the store's
 * code meets every algorithm's state, while in a process that uses one algorithm it meets
 * one. Without a mode argument the script runs each algorithm alone, then all three
 * together, each case in a child process started with --expose-gc so that it can collect
 * garbage before each run. Name an algorithm, or `mixed` for all three, to run one case in
 * this process.
 *
 *   npx tsx bench/ratelimit-memory.ts [checks per run, default 2000000] [algorithm | mixed]
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

import { RateLimiterMemory } from 'rate-limiter-flexible';

import { RateLimiter } from '../src/ratelimit/limiter.js';
import { MemoryStore } from '../src/ratelimit/memory-store.js';
import {
  algorithms,
  type Algorithm,
  type LimitCheck,
  type LimitDecision,
} from '../src/ratelimit/policy.js';

const CHECKS = Number(process.argv[2] ?? 2_000_000);
/** One algorithm, `mixed` for all three in one process, or nothing to run every case. */
const MODE = process.argv[3] as Algorithm | 'mixed' | undefined;
if (MODE !== undefined && MODE !== 'mixed' && !algorithms.includes(MODE)) {
  throw new Error(`invalid mode ${MODE}: expected mixed or one of ${algorithms.join(', ')}`);
}
const ONLY = MODE === 'mixed' ? undefined : MODE;
const KEY_COUNT = 10_000;
const ROUNDS = 7;
/** Long enough that no run crosses a window boundary, which would change what is admitted. */
const WINDOW_SECONDS = 3_600;

const KEYS = Array.from(
  { length: KEY_COUNT },
  (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
);

interface Workload {
  name: string;
  limit: number;
}

const checksPerKey = Math.ceil(CHECKS / KEY_COUNT);
const WORKLOADS: Workload[] = [
  { name: 'all admitted', limit: checksPerKey * 10 },
  { name: 'half rejected', limit: Math.max(1, Math.floor(checksPerKey / 2)) },
];

/** Runs CHECKS checks on a fresh limiter and returns how many were admitted. */
type Run = (limit: number) => number | Promise<number>;

interface Contender {
  label: string;
  /** Ours only: the algorithm the contender runs. */
  algorithm?: Algorithm;
  run: Run;
}

function theirs(): Contender {
  return {
    label: 'rate-limiter-flexible RateLimiterMemory (await)',
    run: async (limit) => {
      const limiter = new RateLimiterMemory({ points: limit, duration: WINDOW_SECONDS });
      let admitted = 0;
      for (let i = 0; i < CHECKS; i++) {
        try {
          await limiter.consume(KEYS[i % KEY_COUNT]!);
          admitted += 1;
        } catch {
          // A rejection settles as a RateLimiterRes, which is the expected outcome here.
        }
      }
      return admitted;
    },
  };
}

function limiterFor(limit: number, algorithm: Algorithm): RateLimiter {
  return new RateLimiter({ limit, window: WINDOW_SECONDS * 1_000, algorithm });
}

function oursSync(algorithm: Algorithm): Contender {
  return {
    label: `RateLimiter.consume ${algorithm}`,
    algorithm,
    run: (limit) => {
      const limiter = limiterFor(limit, algorithm);
      let admitted = 0;
      for (let i = 0; i < CHECKS; i++) {
        if ((limiter.consume(KEYS[i % KEY_COUNT]!) as LimitDecision).allowed) admitted += 1;
      }
      void limiter.close();
      return admitted;
    },
  };
}

/** Awaits every decision, as code that must work with any store would. */
function oursAwaited(algorithm: Algorithm): Contender {
  return {
    label: `RateLimiter.consume ${algorithm} (await)`,
    algorithm,
    run: async (limit) => {
      const limiter = limiterFor(limit, algorithm);
      let admitted = 0;
      for (let i = 0; i < CHECKS; i++) {
        if ((await limiter.consume(KEYS[i % KEY_COUNT]!)).allowed) admitted += 1;
      }
      await limiter.close();
      return admitted;
    },
  };
}

/** Measures the store alone, with each key's check list built before the run. */
function oursStore(algorithm: Algorithm): Contender {
  return {
    label: `MemoryStore.consume ${algorithm}`,
    algorithm,
    run: (limit) => {
      const store = new MemoryStore();
      const policy = { name: 'bench', algorithm, limit, windowMs: WINDOW_SECONDS * 1_000 };
      const checks: LimitCheck[][] = KEYS.map((key) => [{ policy, key: `bench:${key}`, cost: 1 }]);
      let admitted = 0;
      for (let i = 0; i < CHECKS; i++) {
        if ((store.consume(checks[i % KEY_COUNT]!) as LimitDecision[])[0]!.allowed) admitted += 1;
      }
      void store.close();
      return admitted;
    },
  };
}

const CONTENDERS: Contender[] = [
  theirs(),
  ...algorithms.flatMap((algorithm) => [
    oursSync(algorithm),
    oursAwaited(algorithm),
    oursStore(algorithm),
  ]),
].filter(
  (contender) =>
    ONLY === undefined || contender.algorithm === undefined || contender.algorithm === ONLY,
);

interface Measurement {
  checksPerSecond: number;
  admitted: number;
}

async function measure(contender: Contender, limit: number): Promise<Measurement> {
  (globalThis as { gc?: () => void }).gc?.();
  const started = performance.now();
  const admitted = await contender.run(limit);
  const seconds = (performance.now() - started) / 1_000;
  return { checksPerSecond: CHECKS / seconds, admitted };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function formatRate(checksPerSecond: number): string {
  return `${(checksPerSecond / 1e6).toFixed(2)} M/s`;
}

async function benchWorkload(workload: Workload): Promise<void> {
  const results = new Map<Contender, Measurement[]>(CONTENDERS.map((c) => [c, []]));

  for (const contender of CONTENDERS) await measure(contender, workload.limit);
  for (let round = 0; round < ROUNDS; round++) {
    // Reverse the order every other round so that drift in the machine affects all alike.
    const order = round % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse();
    for (const contender of order)
      results.get(contender)!.push(await measure(contender, workload.limit));
  }

  const reference = results.get(CONTENDERS[0]!)!.map((m) => m.checksPerSecond);
  console.log(
    `\n${workload.name}: limit ${workload.limit} per ${WINDOW_SECONDS} s, ${checksPerKey} checks per key`,
  );
  console.log(
    `${'contender'.padEnd(50)} ${'median'.padStart(10)} ${'ratio'.padStart(6)} ${'range'.padStart(11)}  admitted  runs (M/s)`,
  );
  for (const [contender, measurements] of results) {
    const rates = measurements.map((m) => m.checksPerSecond);
    const ratios = rates.map((rate, round) => rate / reference[round]!);
    const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
    const admitted = [...new Set(measurements.map((m) => m.admitted))].join('/');
    const runs = rates.map((r) => (r / 1e6).toFixed(2)).join(' ');
    console.log(
      `${contender.label.padEnd(50)} ${formatRate(median(rates)).padStart(10)} ${median(ratios).toFixed(2).padStart(6)} ${range.padStart(11)}  ${admitted.padStart(8)}  ${runs}`,
    );
  }
}

/**
 * Runs this script for one case in a child process, so that V8 compiles for that case alone.
 * The child can collect garbage before each run, so no run pays for the previous one's.
 */
function runCase(mode: Algorithm | 'mixed'): Promise<void> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(
    process.execPath,
    [...process.execArgv, '--expose-gc', script, String(CHECKS), mode],
    { stdio: 'inherit' },
  );
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`benchmark case ${mode} exited with ${code}`)),
    );
  });
}

if (MODE === undefined) {
  for (const mode of [...algorithms, 'mixed'] as const) await runCase(mode);
} else {
  console.log(
    `\n== ${ONLY === undefined ? 'all three algorithms in one process' : `only ${ONLY} in this process`} ==\n` +
      `Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; ` +
      `${CHECKS} checks per run over ${KEY_COUNT} keys, ${ROUNDS} rounds after a warm-up; ` +
      `garbage collected before each run: ${typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'yes' : 'no'}; ` +
      'ratio = contender / rate-limiter-flexible, median of rounds',
  );
  for (const workload of WORKLOADS) await benchWorkload(workload);
}
