/**
 * Measures throughput, p99 latency and CPU time per request of the gateway against a bare
 * undici proxy on the same upstream. The gateway checks three rate limits per request, in the
 * memory store, or in Redis with BENCH_REDIS=redis://127.0.0.1:6379. Each server runs in its
 * own process, and autocannon (or wrk with BENCH_LOAD=wrk) drives 50 connections on
 * loopback. After a warm-up of each proxy, runs alternate between them for BENCH_ROUNDS
 * rounds (default 3), so that drift in the machine's load affects both alike.
 *
 * CPU per request is the proxy process's CPU time (user + system) during a run divided by
 * the requests completed in it. When the load generator, the upstream and the proxy share
 * few cores, it varies far less between runs than requests per second does.
 *   npx tsx bench/gateway.ts [seconds per run, default 10]
 */
import { CONNECTIONS, measure, startServer, summarize, USE_WRK, type RunResult } from './load.js';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_UP_SECONDS = 3;

const upstream = await startServer(['upstream']);
const bare = await startServer(['bare', upstream.url]);
const gatewayArgs = [
  'gateway',
  upstream.url,
  ...(process.env.BENCH_REDIS ? [process.env.BENCH_REDIS] : []),
];
const gateway = await startServer(gatewayArgs);

// Warm-up: the JIT compiles the hot paths and both pools open their upstream connections.
await measure(bare, upstream, WARM_UP_SECONDS);
await measure(gateway, upstream, WARM_UP_SECONDS);

const results = { bare: [] as RunResult[], gateway: [] as RunResult[] };
for (let round = 0; round < ROUNDS; round++) {
  results.bare.push(await measure(bare, upstream, SECONDS));
  results.gateway.push(await measure(gateway, upstream, SECONDS));
}

const bareSummary = summarize(results.bare);
const gatewaySummary = summarize(results.gateway);

console.log(
  `store: ${process.env.BENCH_REDIS ? 'redis' : 'memory'}; load: ${USE_WRK ? 'wrk' : 'autocannon'}; ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections`,
);
for (const [label, s] of [
  ['bare undici proxy', bareSummary],
  ['bulwark gateway  ', gatewaySummary],
] as const) {
  console.log(
    `${label}: ${s.rps.toFixed(0)} req/s (runs: ${s.each}), p99 ${s.p99.toFixed(1)} ms, ` +
      `CPU per request: proxy ${s.proxyCpu.toFixed(1)} µs, upstream ${s.upstreamCpu.toFixed(1)} µs`,
  );
}
console.log(
  `throughput ratio (gateway / bare): ${(gatewaySummary.rps / bareSummary.rps).toFixed(2)}`,
);
console.log(`p99 ratio (gateway / bare): ${(gatewaySummary.p99 / bareSummary.p99).toFixed(2)}`);
console.log(
  `proxy CPU per request ratio (gateway / bare): ${(gatewaySummary.proxyCpu / bareSummary.proxyCpu).toFixed(2)}`,
);
const failures = bareSummary.failures + gatewaySummary.failures;
console.log(`errors or non-2xx responses: ${failures}`);

for (const server of [gateway, bare, upstream]) server.child.kill('SIGTERM');
