/**
 * Accuracy of shared limits under load: two `bulwark start` processes on the machine's Redis
 * (127.0.0.1:6379, under a key prefix of this run's own, deleted afterwards) in front of an
 * upstream that records when each request arrives. Four client processes with 25 connections
 * each send to both gateways, spread over three routes limited to 100 per 10 s with each
 * algorithm, for the given number of seconds:
 *
 *   npx tsx bench/accuracy.ts [seconds, default 60]
 *
 * For each route it prints the requests sent, those admitted, and the largest count admitted
 * in any sliding window of 10 s, against the limit. That count comes from the upstream's
 * records in two ways. Counting by receive time alone can exceed what Redis admitted by the
 * jitter of the forwarding latency. Counting only requests whose whole span, from client send
 * to upstream receipt, fell inside the window never overstates it.
 *
 * The gateways keep the default 100 ms Redis command timeout. A check that times out under
 * load is decided by the local fallback, which admits up to half the limit on each instance,
 * so the run reports how often that happened and how many requests the fallback admitted.
 * Set BENCH_COMMAND_TIMEOUT (e.g. `1s`) to measure with another timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ClientPlan, ClientReport } from '../test/distributed/client.js';
import {
  countResponses,
  deleteRateLimitKeys,
  gcraMaxInSpan,
  maxCertainlyInWindow,
  maxReceivedInWindow,
  randomKeyPrefix,
  readEvents,
  runClients,
  startGatewayPair,
  startRecordingUpstream,
  stopGateways,
  sumReports,
  type Arrival,
  type GatewayInstance,
} from '../test/distributed/harness.js';

const SECONDS = Number(process.argv[2] ?? 60);
const REDIS = 'redis://127.0.0.1:6379/0';
const CLIENT_PROCESSES = 4;
const CONNECTIONS_PER_CLIENT = 25;
/** Caps each client's requests, far above what 25 connections sent per second in trial runs. */
const MAX_REQUESTS_PER_SECOND = 5_000;
const LIMIT = 100;
const WINDOW_MS = 10_000;
const GCRA_BURST = 20;
const COMMAND_TIMEOUT = process.env.BENCH_COMMAND_TIMEOUT ?? '100ms';
/** The limit each instance applies alone while Redis is out of reach: ceil(limit / 2). */
const LOCAL_LIMIT = Math.ceil(LIMIT / 2);

interface Route {
  path: string;
  algorithm: string;
  /** Maximum a correct limiter admits in any window of WINDOW_MS, or null without a fixed bound. */
  bound: number | null;
}

const ROUTES: Route[] = [
  { path: '/log', algorithm: 'sliding-window-log', bound: LIMIT },
  // The counter is approximate: only each fixed window is held to the limit.
  { path: '/counter', algorithm: 'sliding-window-counter', bound: null },
  {
    path: '/gcra',
    algorithm: 'gcra',
    bound: gcraMaxInSpan(LIMIT, WINDOW_MS, GCRA_BURST, WINDOW_MS),
  },
];

function policy(): Record<string, unknown> {
  return {
    routes: ROUTES.map((route) => ({
      match: `GET ${route.path}`,
      rateLimits: [
        {
          name: route.algorithm,
          key: 'ip',
          algorithm: route.algorithm,
          limit: LIMIT,
          window: `${WINDOW_MS}ms`,
          ...(route.algorithm === 'gcra' ? { burst: GCRA_BURST } : {}),
        },
      ],
    })),
  };
}

function clientPlan(gateways: readonly GatewayInstance[]): ClientPlan {
  return {
    targets: gateways.map((gateway) => gateway.url),
    paths: ROUTES.map((route) => route.path),
    requests: SECONDS * MAX_REQUESTS_PER_SECOND,
    concurrency: CONNECTIONS_PER_CLIENT,
    durationMs: SECONDS * 1000,
  };
}

function printRoute(route: Route, reports: ClientReport[], arrivals: Arrival[]): void {
  const admitted = arrivals.filter((arrival) => arrival.path === route.path);
  const certain = maxCertainlyInWindow(admitted, WINDOW_MS);
  const received = maxReceivedInWindow(admitted, WINDOW_MS);
  const bound = route.bound === null ? 'none' : String(route.bound);
  const local = countResponses(reports, { path: route.path, status: 200, limit: LOCAL_LIMIT });
  console.log(
    `${route.algorithm.padEnd(22)} ${String(countResponses(reports, { path: route.path })).padStart(8)}` +
      ` ${String(admitted.length).padStart(8)} ${String(local).padStart(6)} ${String(certain).padStart(10)}` +
      ` ${String(received).padStart(10)} ${String(LIMIT).padStart(6)} ${bound.padStart(6)}` +
      ` ${(certain / LIMIT).toFixed(2).padStart(7)} ${(received / LIMIT).toFixed(2).padStart(7)}`,
  );
}

function printReport(
  reports: ClientReport[],
  arrivals: Arrival[],
  gateways: readonly GatewayInstance[],
): void {
  const sent = sumReports(reports, 'sent');
  const admitted = countResponses(reports, { status: 200 });
  const rejected = countResponses(reports, { status: 429 });
  console.log(
    `${SECONDS} s, ${CLIENT_PROCESSES} client processes x ${CONNECTIONS_PER_CLIENT} connections, ` +
      `2 gateways on ${REDIS} (command timeout ${COMMAND_TIMEOUT}), limit ${LIMIT} per ${WINDOW_MS / 1000} s per route (GCRA burst ${GCRA_BURST})`,
  );
  console.log(
    `requests ${sent} (${(sent / SECONDS).toFixed(0)}/s), admitted ${admitted}, ` +
      `rejected ${rejected}, other ${sent - admitted - rejected}, upstream received ${arrivals.length}`,
  );
  console.log(
    'algorithm              requests admitted  local  maxWindow maxRecvWin  limit  bound max/lim recv/lim',
  );
  for (const route of ROUTES) printRoute(route, reports, arrivals);
  console.log(
    'local: admitted by the local fallback; ' +
      'maxWindow: requests certainly admitted within one 10 s window (send-to-receipt span inside it); ' +
      'maxRecvWin: by upstream receive time alone.',
  );
  for (const gateway of gateways) {
    const store = readEvents(gateway).filter((event) =>
      String(event.type).startsWith('ratelimit.store_'),
    );
    console.log(
      `gateway ${gateway.name}: ${countResponses(reports, { target: gateway.url })} requests, ` +
        `${store.filter((event) => event.type === 'ratelimit.store_degraded').length} fallbacks to local limits`,
    );
  }
}

async function main(): Promise<void> {
  if (!Number.isFinite(SECONDS) || SECONDS <= 0 || SECONDS > 600) {
    throw new Error(`invalid duration "${process.argv[2]}": expected seconds from 1 to 600`);
  }
  const keyPrefix = randomKeyPrefix('bench-accuracy');
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-accuracy-'));
  const upstream = await startRecordingUpstream();
  let gateways: GatewayInstance[] = [];
  try {
    gateways = await startGatewayPair({
      dir,
      upstream: upstream.url,
      redis: REDIS,
      keyPrefix,
      policy: policy(),
      commandTimeout: COMMAND_TIMEOUT,
    });
    const plans = Array.from({ length: CLIENT_PROCESSES }, () => clientPlan(gateways));
    const reports = await runClients(plans);
    printReport(reports, upstream.arrivals, gateways);
  } finally {
    await stopGateways(gateways);
    await upstream.close();
    await deleteRateLimitKeys(REDIS, keyPrefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
