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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';

import autocannon from 'autocannon';

const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_UP_SECONDS = 3;
const USE_WRK = process.env.BENCH_LOAD === 'wrk';

interface ChildServer {
  url: string;
  child: ChildProcess;
  lines: Interface;
}

async function startServer(args: string[]): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/servers.ts', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  return { url: (JSON.parse(line) as { url: string }).url, child, lines };
}

/** Returns the CPU time the server process has used so far, in microseconds. */
async function cpuMicros(server: ChildServer): Promise<number> {
  const reply = once(server.lines, 'line') as Promise<[string]>;
  server.child.stdin!.write('cpu\n');
  const [line] = await reply;
  return (JSON.parse(line) as { cpuMicros: number }).cpuMicros;
}

interface LoadResult {
  rps: number;
  requests: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, seconds: number): Promise<LoadResult> {
  if (USE_WRK) return loadWithWrk(url, seconds);
  const result = await autocannon({
    url: `${url}/orders`,
    connections: CONNECTIONS,
    duration: seconds,
  });
  return {
    rps: result.requests.average,
    requests: result.requests.total,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** wrk (C, one thread) takes far less CPU than autocannon, leaving more for the servers. */
function loadWithWrk(url: string, seconds: number): LoadResult {
  const output = execFileSync(
    'wrk',
    ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', `${url}/orders`],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(output)?.[1]);
  const p99Match = /99%\s+([\d.]+)(us|ms|s)/.exec(output);
  const scale = { us: 0.001, ms: 1, s: 1000 }[(p99Match?.[2] ?? 'ms') as 'us' | 'ms' | 's'];
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const errorCount = errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { rps, requests, p99: Number(p99Match?.[1]) * scale, errors: errorCount, non2xx };
}

interface RunResult extends LoadResult {
  /** Proxy CPU time per request, in microseconds. */
  proxyCpu: number;
  /** Upstream CPU time per request, in microseconds. */
  upstreamCpu: number;
}

async function measure(proxy: ChildServer, seconds: number): Promise<RunResult> {
  const [proxyBefore, upstreamBefore] = [await cpuMicros(proxy), await cpuMicros(upstream)];
  const result = await load(proxy.url, seconds);
  const [proxyAfter, upstreamAfter] = [await cpuMicros(proxy), await cpuMicros(upstream)];
  return {
    ...result,
    proxyCpu: (proxyAfter - proxyBefore) / result.requests,
    upstreamCpu: (upstreamAfter - upstreamBefore) / result.requests,
  };
}

const upstream = await startServer(['upstream']);
const bare = await startServer(['bare', upstream.url]);
const gatewayArgs = [
  'gateway',
  upstream.url,
  ...(process.env.BENCH_REDIS ? [process.env.BENCH_REDIS] : []),
];
const gateway = await startServer(gatewayArgs);

// Warm-up: the JIT compiles the hot paths and both pools open their upstream connections.
await measure(bare, WARM_UP_SECONDS);
await measure(gateway, WARM_UP_SECONDS);

const results = { bare: [] as RunResult[], gateway: [] as RunResult[] };
for (let round = 0; round < ROUNDS; round++) {
  results.bare.push(await measure(bare, SECONDS));
  results.gateway.push(await measure(gateway, SECONDS));
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
const summary = (runs: RunResult[]) => ({
  rps: mean(runs.map((r) => r.rps)),
  p99: mean(runs.map((r) => r.p99)),
  proxyCpu: mean(runs.map((r) => r.proxyCpu)),
  upstreamCpu: mean(runs.map((r) => r.upstreamCpu)),
  each: runs.map((r) => r.rps.toFixed(0)).join(' '),
});
const bareSummary = summary(results.bare);
const gatewaySummary = summary(results.gateway);

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
const failures = [...results.bare, ...results.gateway].reduce(
  (sum, r) => sum + r.errors + r.non2xx,
  0,
);
console.log(`errors or non-2xx responses: ${failures}`);

for (const server of [gateway, bare, upstream]) server.child.kill('SIGTERM');
