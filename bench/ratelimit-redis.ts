/**
 * Compares Bulwark's RedisStore with rate-limiter-flexible's RateLimiterRedis on the Redis at
 * 127.0.0.1:6379. Each request checks three policies (per IP, per user, per route): one
 * RedisStore call with three checks, or three RateLimiterRedis consume calls sent together.
 * 50 requests are in flight at a time. Each run sends a fixed number of requests over the
 * same key sequence after a warm-up, in two workloads: limits that reject about half the
 * requests, and limits that admit all of them. Prints requests per second, p99 latency, their ratios
 * against rate-limiter-flexible, and whether any key admitted more than its limit.
 *
 * Run with `npx tsx bench/ratelimit-redis.ts [requests]` (default 20000 per run).
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';

import { RateLimiterRedis } from 'rate-limiter-flexible';

import { algorithms, type Algorithm, type LimitPolicy } from '../src/ratelimit/policy.js';
import { RedisStore } from '../src/ratelimit/redis-store.js';
import { createRedisClient, waitForRedisReady } from '../src/storage/redis.js';

const REQUESTS = Number(process.argv[2] ?? 20_000);
const WARMUP = 2_000;
const CONCURRENCY = 50;
const ROUNDS = 3;
const HOUR_MS = 3_600_000;
const PEER = 'rate-limiter-flexible (fixed window)';

interface BenchPolicy {
  name: string;
  limit: number;
  /** Distinct keys the requests spread over. */
  keys: number;
}

interface Workload {
  name: string;
  policies: readonly BenchPolicy[];
}

const WORKLOADS: readonly Workload[] = [
  {
    name: 'limits reached: about half the requests rejected',
    policies: [
      { name: 'ip', limit: 20, keys: 500 },
      { name: 'user', limit: 100, keys: 100 },
      { name: 'route', limit: 1_000_000, keys: 5 },
    ],
  },
  {
    name: 'limits never reached: every request admitted',
    policies: [
      { name: 'ip', limit: 1_000_000, keys: 500 },
      { name: 'user', limit: 1_000_000, keys: 100 },
      { name: 'route', limit: 1_000_000, keys: 5 },
    ],
  },
];

interface Request {
  keys: string[];
}

interface RunResult {
  requestsPerSecond: number;
  p99Ms: number;
  /** CPU time per request of this process, and of the Redis server (all its clients). */
  clientCpuUs: number;
  redisCpuUs: number;
  admitted: number;
  /** Keys that admitted more requests than their policy's limit. */
  overLimit: number;
}

type Limiter = (request: Request) => Promise<boolean>;
type Contender = [label: string, create: (prefix: string, workload: Workload) => Limiter];

function requestSequence(workload: Workload, count: number, seed: number): Request[] {
  // A Park-Miller generator, so that every run uses the same keys.
  let state = seed;
  const next = (bound: number): number => {
    state = (state * 48_271) % 2_147_483_647;
    return state % bound;
  };
  const requests: Request[] = [];
  for (let i = 0; i < count; i++) {
    requests.push({ keys: workload.policies.map((p) => `${p.name}-${next(p.keys)}`) });
  }
  return requests;
}

async function run(workload: Workload, limiter: Limiter, requests: Request[]): Promise<RunResult> {
  const latencies = new Float64Array(requests.length);
  const admittedPerKey = workload.policies.map(() => new Map<string, number>());
  let admitted = 0;
  let next = 0;

  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const index = next++;
      const request = requests[index]!;
      const start = process.hrtime.bigint();
      const allowed = await limiter(request);
      latencies[index] = Number(process.hrtime.bigint() - start) / 1e6;
      if (!allowed) continue;
      admitted += 1;
      request.keys.forEach((key, p) => {
        const counts = admittedPerKey[p]!;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      });
    }
  };

  const redisCpuBefore = await redisCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const redisCpuS = (await redisCpuSeconds()) - redisCpuBefore;

  latencies.sort();
  let overLimit = 0;
  admittedPerKey.forEach((counts, p) => {
    for (const count of counts.values()) if (count > workload.policies[p]!.limit) overLimit += 1;
  });
  return {
    requestsPerSecond: requests.length / elapsedS,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)]!,
    clientCpuUs: (cpu.user + cpu.system) / requests.length,
    redisCpuUs: (redisCpuS * 1e6) / requests.length,
    admitted,
    overLimit,
  };
}

function bulwarkLimiter(prefix: string, workload: Workload, algorithm: Algorithm): Limiter {
  const store = new RedisStore({ redis: client, keyPrefix: prefix, commandTimeout: 0 });
  const policies: LimitPolicy[] = workload.policies.map((p) => ({
    name: p.name,
    algorithm,
    limit: p.limit,
    windowMs: HOUR_MS,
  }));
  return async (request) => {
    const decisions = await store.consume(
      request.keys.map((key, i) => ({ policy: policies[i]!, key, cost: 1 })),
    );
    return decisions.every((decision) => decision.allowed);
  };
}

function flexibleLimiter(prefix: string, workload: Workload): Limiter {
  const limiters = workload.policies.map(
    (p) =>
      new RateLimiterRedis({
        storeClient: client,
        keyPrefix: `${prefix}${p.name}`,
        points: p.limit,
        duration: HOUR_MS / 1000,
      }),
  );
  return async (request) => {
    const results = await Promise.allSettled(
      request.keys.map((key, i) => limiters[i]!.consume(key)),
    );
    return results.every((result) => result.status === 'fulfilled');
  };
}

async function deleteKeys(pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [nextCursor, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = nextCursor;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/** Returns the Redis server's CPU time so far, user and system, in seconds. */
async function redisCpuSeconds(): Promise<number> {
  const info = await client.info('cpu');
  const read = (field: string): number => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1]);
  return read('used_cpu_user') + read('used_cpu_sys');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function formatRun(round: number, label: string, result: RunResult): string {
  return [
    `  round ${round}  ${label.padEnd(38)}`,
    `${Math.round(result.requestsPerSecond).toString().padStart(7)} req/s`,
    `p99 ${result.p99Ms.toFixed(2).padStart(6)} ms`,
    `cpu/req client ${result.clientCpuUs.toFixed(1).padStart(5)} us`,
    `redis ${result.redisCpuUs.toFixed(1).padStart(5)} us`,
    `admitted ${String(result.admitted).padStart(6)}`,
    result.overLimit === 0 ? 'exact' : `OVER LIMIT on ${result.overLimit} keys`,
  ].join('  ');
}

const contenders: Contender[] = [
  [PEER, flexibleLimiter],
  ...algorithms.map((algorithm): Contender => [
    `bulwark ${algorithm}`,
    (prefix, workload) => bulwarkLimiter(prefix, workload, algorithm),
  ]),
];

async function benchWorkload(workload: Workload): Promise<RunResult[]> {
  console.log(`\n${workload.name}`);
  const requests = requestSequence(workload, REQUESTS, 42);
  const warmup = requestSequence(workload, WARMUP, 7);
  const results = new Map<string, RunResult[]>();

  for (let round = 1; round <= ROUNDS; round++) {
    // Each round starts with another contender, so none always runs first or last.
    const shift = (round - 1) % contenders.length;
    for (const [label, create] of [...contenders.slice(shift), ...contenders.slice(0, shift)]) {
      runId += 1;
      const limiter = create(`${benchPrefix}-${runId}:`, workload);
      await run(workload, limiter, warmup);
      const result = await run(workload, limiter, requests);
      console.log(formatRun(round, label, result));
      results.set(label, [...(results.get(label) ?? []), result]);
    }
  }

  const peer = results.get(PEER)!;
  const peerRps = median(peer.map((r) => r.requestsPerSecond));
  const peerP99 = median(peer.map((r) => r.p99Ms));
  const peerCpuUs = median(peer.map((r) => r.clientCpuUs + r.redisCpuUs));
  console.log('  medians, ratio against rate-limiter-flexible:');
  for (const [label, runs] of results) {
    const rps = median(runs.map((r) => r.requestsPerSecond));
    const p99 = median(runs.map((r) => r.p99Ms));
    const cpuUs = median(runs.map((r) => r.clientCpuUs + r.redisCpuUs));
    console.log(
      `    ${label.padEnd(38)} ${Math.round(rps).toString().padStart(7)} req/s  ` +
        `p99 ${p99.toFixed(2).padStart(6)} ms  cpu/req ${cpuUs.toFixed(1).padStart(5)} us  ` +
        `throughput x${(rps / peerRps).toFixed(2)}  p99 x${(p99 / peerP99).toFixed(2)}  ` +
        `cpu x${(cpuUs / peerCpuUs).toFixed(2)}`,
    );
  }
  return [...results.values()].flat();
}

const client = createRedisClient('redis://127.0.0.1:6379/0');
await waitForRedisReady(client);
const benchPrefix = `bwk-bench-${randomUUID()}`;
let runId = 0;

const serverInfo = await client.info('server');
const redisVersion = /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? 'unknown';
console.log(
  `node ${process.version}, redis ${redisVersion}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
);
console.log(
  `${REQUESTS} requests per run, ${CONCURRENCY} in flight, 3 policies per request, ${ROUNDS} rounds`,
);

try {
  const all: RunResult[] = [];
  for (const workload of WORKLOADS) all.push(...(await benchWorkload(workload)));
  const inexact = all.filter((r) => r.overLimit > 0).length;
  console.log(
    inexact === 0
      ? '\nexactness: no key admitted more than its limit in any run'
      : `\nexactness: ${inexact} runs admitted more than a limit`,
  );
} finally {
  await deleteKeys(`*${benchPrefix}*`);
  await client.quit();
}
