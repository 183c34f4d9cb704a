/**
 * Measures what authentication costs on the gateway: API keys (SQLite store, cached and
 * uncached lookups) and ES256 JWTs (verified-token cache on and off), each as a ratio of
 * throughput and of proxy CPU per request against the same gateway with no authentication.
 * Each gateway runs in its own process in front of one upstream; after a warm-up, runs
 * alternate between the modes for BENCH_ROUNDS rounds (default 3).
 *   npx tsx bench/auth.ts [seconds per run, default 10]
 * Load: autocannon, or wrk with BENCH_LOAD=wrk; 50 connections on loopback. BENCH_MODES=apikey,jwt
 * limits the run to those modes and the baseline.
 */
import {
  CONNECTIONS,
  measure,
  startServer,
  summarize,
  USE_WRK,
  type ChildServer,
  type RunResult,
} from './load.js';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_UP_SECONDS = 3;
const ALL_MODES = ['none', 'apikey', 'apikey-uncached', 'jwt', 'jwt-uncached'];
// BENCH_MODES=apikey,jwt measures only those (and `none`, the baseline).
const MODES = ALL_MODES.filter(
  (mode) =>
    mode === 'none' ||
    !process.env.BENCH_MODES ||
    process.env.BENCH_MODES.split(',').includes(mode),
);

const upstream = await startServer(['upstream']);
const gateways = new Map<string, ChildServer>();
for (const mode of MODES) gateways.set(mode, await startServer(['auth', upstream.url, mode]));

for (const gateway of gateways.values()) await measure(gateway, upstream, WARM_UP_SECONDS);

const runs = new Map<string, RunResult[]>(MODES.map((mode) => [mode, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of MODES)
    runs.get(mode)!.push(await measure(gateways.get(mode)!, upstream, SECONDS));
}

console.log(
  `load: ${USE_WRK ? 'wrk' : 'autocannon'}; ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections`,
);
const baseline = summarize(runs.get('none')!);
for (const mode of MODES) {
  const s = summarize(runs.get(mode)!);
  console.log(
    `${mode.padEnd(16)} ${s.rps.toFixed(0).padStart(6)} req/s (runs: ${s.each}), p99 ${s.p99.toFixed(1)} ms, ` +
      `proxy CPU ${s.proxyCpu.toFixed(1)} µs/req; ratio vs none: throughput ${(s.rps / baseline.rps).toFixed(2)}, ` +
      `CPU per request ${(s.proxyCpu / baseline.proxyCpu).toFixed(2)}; errors or non-2xx: ${s.failures}`,
  );
}

for (const server of [...gateways.values(), upstream]) server.child.kill('SIGTERM');
