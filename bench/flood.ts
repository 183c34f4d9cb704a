/**
 * Measures how a legitimate client fares while a flood several times the gateway's capacity
 * hits it, with and without load shedding. The upstream has a fixed capacity (8 workers,
 * 20 ms per request: 400 requests per second); the capacity through the gateway is measured
 * first. Then, per mode, a fresh upstream and gateway get a warm-up at half capacity, and
 * then the flood: autocannon at FLOOD_FACTOR × capacity over FLOOD_CONNECTIONS anonymous
 * connections. Meanwhile the legitimate client sends LEGIT_RATE authenticated requests per
 * second on keep-alive connections and gives up on each after LEGIT_TIMEOUT_MS. Every
 * server and the flood run in child processes of their own, on loopback.
 *   npx tsx bench/flood.ts [seconds of flood per mode, default 15]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

import { Agent, request } from 'undici';

const SECONDS = Number(process.argv[2] ?? 15);
const UPSTREAM_WORKERS = 8;
const UPSTREAM_SERVICE_MS = 20;
const FLOOD_FACTOR = 4;
const FLOOD_CONNECTIONS = 800;
const LEGIT_RATE = 20;
const LEGIT_TIMEOUT_MS = 2_000;

interface Child {
  process: ChildProcess;
  line: Record<string, unknown>;
}

/** Starts bench/flood-servers.ts with `args` and resolves with the first line it prints. */
async function child(args: string[]): Promise<Child> {
  const started = spawn(process.execPath, ['--import', 'tsx', 'bench/flood-servers.ts', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: started.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  return { process: started, line: JSON.parse(line) as Record<string, unknown> };
}

interface FloodResult {
  requests: number;
  ok: number;
  shed: number;
  errors: number;
  timeouts: number;
}

async function flood(url: string, rate: number, connections: number, seconds: number) {
  const run = await child(['flood', url, String(rate), String(connections), String(seconds)]);
  return run.line as unknown as FloodResult;
}

interface LegitResult {
  sent: number;
  succeeded: number;
  /** Latencies of the successful requests, in ms. */
  latencies: number[];
}

/** Sends LEGIT_RATE requests per second for `seconds`, whatever the replies take. */
async function legitimateClient(
  url: string,
  headers: Record<string, string>,
  seconds: number,
): Promise<LegitResult> {
  const dispatcher = new Agent({ connections: 64 });
  const result: LegitResult = { sent: 0, succeeded: 0, latencies: [] };
  const pending: Promise<void>[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    result.sent += 1;
    pending.push(timedRequest(url, headers, dispatcher, result));
    await new Promise((resolve) => setTimeout(resolve, 1000 / LEGIT_RATE));
  }
  await Promise.all(pending);
  await dispatcher.close();
  return result;
}

async function timedRequest(
  url: string,
  headers: Record<string, string>,
  dispatcher: Agent,
  result: LegitResult,
): Promise<void> {
  const started = performance.now();
  try {
    const response = await request(`${url}/orders`, {
      headers,
      dispatcher,
      signal: AbortSignal.timeout(LEGIT_TIMEOUT_MS),
    });
    await response.body.text();
    if (response.statusCode === 200) {
      result.succeeded += 1;
      result.latencies.push(performance.now() - started);
    }
  } catch {
    // A timeout or a reset: a failure, counted by `sent` minus `succeeded`.
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function startPair(mode: 'none' | 'shed') {
  const upstream = await child(['upstream', String(UPSTREAM_WORKERS), String(UPSTREAM_SERVICE_MS)]);
  const gateway = await child(['gateway', String(upstream.line.url), mode]);
  return {
    url: String(gateway.line.url),
    headers: gateway.line.headers as Record<string, string>,
    stop: () => {
      gateway.process.kill('SIGTERM');
      upstream.process.kill('SIGTERM');
    },
  };
}

async function measureCapacity(): Promise<number> {
  const pair = await startPair('none');
  await flood(pair.url, 0, 32, 2);
  const run = await flood(pair.url, 0, 32, 4);
  pair.stop();
  return run.ok / 4;
}

async function runMode(mode: 'none' | 'shed', capacity: number) {
  const pair = await startPair(mode);
  await flood(pair.url, Math.round(capacity / 2), 16, 2);
  const [floodResult, legit] = await Promise.all([
    flood(pair.url, Math.round(capacity * FLOOD_FACTOR), FLOOD_CONNECTIONS, SECONDS),
    legitimateClient(pair.url, pair.headers, SECONDS),
  ]);
  pair.stop();
  return { flood: floodResult, legit };
}

const capacity = await measureCapacity();
console.log(
  `capacity through the gateway: ${capacity.toFixed(0)} req/s (upstream: ${UPSTREAM_WORKERS} workers × ${UPSTREAM_SERVICE_MS} ms)`,
);
console.log(
  `flood: ${FLOOD_FACTOR} × capacity over ${FLOOD_CONNECTIONS} connections for ${SECONDS} s; ` +
    `legitimate client: ${LEGIT_RATE} req/s, authenticated, ${LEGIT_TIMEOUT_MS} ms timeout`,
);

const results = {
  none: await runMode('none', capacity),
  shed: await runMode('shed', capacity),
};
for (const [mode, { flood: floodResult, legit }] of Object.entries(results)) {
  const rate = legit.succeeded / legit.sent;
  console.log(
    `${mode === 'none' ? 'without load shedding' : 'with load shedding   '}: legitimate ` +
      `${(rate * 100).toFixed(1)} % ok (${legit.succeeded}/${legit.sent}), ` +
      `p50 ${percentile(legit.latencies, 50).toFixed(0)} ms, p99 ${percentile(legit.latencies, 99).toFixed(0)} ms; flood ${floodResult.requests} requests, ` +
      `${floodResult.ok} ok, ${floodResult.shed} shed (503), ${floodResult.errors} errors, ` +
      `${floodResult.timeouts} timeouts`,
  );
}
const none = results.none.legit;
const shed = results.shed.legit;
console.log(
  `success rate ratio (with / without): ${(shed.succeeded / shed.sent / (none.succeeded / none.sent)).toFixed(2)}`,
);
console.log(
  `p99 ratio (with / without): ${(percentile(shed.latencies, 99) / percentile(none.latencies, 99)).toFixed(2)}`,
);
