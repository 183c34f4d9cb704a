/**
 * Throughput and p99 latency of the gateway (three rate limits per request, memory store, or
 * Redis with BENCH_REDIS=redis://127.0.0.1:6379) against a bare undici proxy on the same
 * upstream. Each server runs in its own process; autocannon (or wrk with BENCH_LOAD=wrk) drives
 * 50 connections on loopback.
 *   npx tsx bench/gateway.ts [seconds per run, default 10]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

import autocannon from 'autocannon';

const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = 50;
const ROUNDS = 2;
const USE_WRK = process.env.BENCH_LOAD === 'wrk';

async function startServer(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/servers.ts', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  return { url: (JSON.parse(line) as { url: string }).url, child };
}

interface LoadResult {
  rps: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string): Promise<LoadResult> {
  if (USE_WRK) return loadWithWrk(url);
  const result = await autocannon({
    url: `${url}/orders`,
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** wrk (C, one thread) takes far less CPU than autocannon, leaving more for the servers. */
function loadWithWrk(url: string): LoadResult {
  const output = execFileSync(
    'wrk',
    ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', `${url}/orders`],
    {
      encoding: 'utf8',
    },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  const p99Match = /99%\s+([\d.]+)(us|ms|s)/.exec(output);
  const scale = { us: 0.001, ms: 1, s: 1000 }[(p99Match?.[2] ?? 'ms') as 'us' | 'ms' | 's'];
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const errorCount = errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { rps, p99: Number(p99Match?.[1]) * scale, errors: errorCount, non2xx };
}

const upstream = await startServer(['upstream']);
const bare = await startServer(['bare', upstream.url]);
const gatewayArgs = [
  'gateway',
  upstream.url,
  ...(process.env.BENCH_REDIS ? [process.env.BENCH_REDIS] : []),
];
const gateway = await startServer(gatewayArgs);

// Warm both up, then alternate runs so that drift affects both alike.
await autocannon({ url: `${bare.url}/orders`, connections: CONNECTIONS, duration: 2 });
await autocannon({ url: `${gateway.url}/orders`, connections: CONNECTIONS, duration: 2 });

const results = {
  bare: [] as Awaited<ReturnType<typeof load>>[],
  gateway: [] as Awaited<ReturnType<typeof load>>[],
};
for (let round = 0; round < ROUNDS; round++) {
  results.bare.push(await load(bare.url));
  results.gateway.push(await load(gateway.url));
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
const bareRps = mean(results.bare.map((r) => r.rps));
const gatewayRps = mean(results.gateway.map((r) => r.rps));
const bareP99 = mean(results.bare.map((r) => r.p99));
const gatewayP99 = mean(results.gateway.map((r) => r.p99));

console.log(
  `store: ${process.env.BENCH_REDIS ? 'redis' : 'memory'}; load: ${USE_WRK ? 'wrk' : 'autocannon'}; ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections`,
);
console.log(`bare undici proxy: ${bareRps.toFixed(0)} req/s, p99 ${bareP99.toFixed(1)} ms`);
console.log(
  `bulwark gateway:   ${gatewayRps.toFixed(0)} req/s, p99 ${gatewayP99.toFixed(1)} ms (3 rate limits per request)`,
);
console.log(`throughput ratio (gateway / bare): ${(gatewayRps / bareRps).toFixed(2)}`);
console.log(`p99 ratio (gateway / bare): ${(gatewayP99 / bareP99).toFixed(2)}`);
const failures = [...results.bare, ...results.gateway].reduce(
  (sum, r) => sum + r.errors + r.non2xx,
  0,
);
console.log(`errors or non-2xx responses: ${failures}`);

for (const server of [gateway, bare, upstream]) server.child.kill('SIGTERM');
