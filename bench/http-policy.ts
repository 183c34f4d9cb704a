/**
 * Measures the cost of the HTTP policy guards per request: throughput, p99 latency and proxy
 * CPU time per request. A gateway with every HTTP policy guard on (`policy` in
 * bench/http-policy-gateway.ts) runs against a bare undici proxy and against the same gateway
 * with the guards off (`minimal`), all on the same upstream. Every request carries an allowed `Origin`, a trusted
 * `X-Forwarded-Proto: https` and a repeated query parameter, so CORS adds its headers, HSTS
 * is sent and the query is rewritten on each one.
 *
 * Each server runs in its own process, and autocannon (or wrk with BENCH_LOAD=wrk) drives 50
 * connections on loopback. After a warm-up, runs alternate between the three proxies for
 * BENCH_ROUNDS rounds (default 3), so that drift in the machine's load affects all alike.
 *   npx tsx bench/http-policy.ts [seconds per run, default 10]
 */
import { request } from 'undici';

import { POLICY_REQUEST } from './http-policy-gateway.js';
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

const upstream = await startServer(['upstream']);
const proxies = {
  bare: await startServer(['bare', upstream.url]),
  minimal: await startServer(['http-policy', upstream.url, 'minimal']),
  policy: await startServer(['http-policy', upstream.url, 'policy']),
};
for (const proxy of Object.values(proxies)) {
  proxy.path = POLICY_REQUEST.path;
  Object.assign(proxy.headers, POLICY_REQUEST.headers);
}
await checkPolicyApplies(proxies.policy);

// Warm-up: the JIT compiles the hot paths and the pools open their upstream connections.
for (const proxy of Object.values(proxies)) await measure(proxy, upstream, WARM_UP_SECONDS);

const results = { bare: [] as RunResult[], minimal: [] as RunResult[], policy: [] as RunResult[] };
for (let round = 0; round < ROUNDS; round++) {
  for (const name of ['bare', 'minimal', 'policy'] as const) {
    results[name].push(await measure(proxies[name], upstream, SECONDS));
  }
}

const bare = summarize(results.bare);
const minimal = summarize(results.minimal);
const policy = summarize(results.policy);

console.log(
  `load: ${USE_WRK ? 'wrk' : 'autocannon'}; ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONNECTIONS} connections; GET ${POLICY_REQUEST.path}`,
);
for (const [label, s] of [
  ['bare undici proxy       ', bare],
  ['gateway, policy off     ', minimal],
  ['gateway, HTTP policy on ', policy],
] as const) {
  console.log(
    `${label}: ${s.rps.toFixed(0)} req/s (runs: ${s.each}), p99 ${s.p99.toFixed(1)} ms, ` +
      `CPU per request: proxy ${s.proxyCpu.toFixed(1)} µs, upstream ${s.upstreamCpu.toFixed(1)} µs`,
  );
}
console.log(`throughput ratio (policy / bare): ${(policy.rps / bare.rps).toFixed(2)}`);
console.log(`throughput ratio (policy / policy off): ${(policy.rps / minimal.rps).toFixed(2)}`);
console.log(`p99 ratio (policy / bare): ${(policy.p99 / bare.p99).toFixed(2)}`);
console.log(
  `proxy CPU per request ratio (policy / bare): ${(policy.proxyCpu / bare.proxyCpu).toFixed(2)}`,
);
console.log(
  `HTTP policy CPU per request (policy - policy off): ${(policy.proxyCpu - minimal.proxyCpu).toFixed(1)} µs`,
);
console.log(`errors or non-2xx responses: ${bare.failures + minimal.failures + policy.failures}`);

for (const server of [...Object.values(proxies), upstream]) server.child.kill('SIGTERM');

/** Stops the run early when the policy gateway does not do the work being measured. */
async function checkPolicyApplies(server: ChildServer): Promise<void> {
  const response = await request(`${server.url}${server.path}`, { headers: server.headers });
  await response.body.dump();
  const missing = ['access-control-allow-origin', 'strict-transport-security', 'vary'].filter(
    (name) => response.headers[name] === undefined,
  );
  if (response.statusCode !== 200 || missing.length > 0) {
    for (const proxy of [...Object.values(proxies), upstream]) proxy.child.kill('SIGTERM');
    throw new Error(
      `the policy gateway returned ${response.statusCode} without ${missing.join(', ')}`,
    );
  }
}
