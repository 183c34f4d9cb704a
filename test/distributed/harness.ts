/**
 * Pieces of a distributed rate-limiting run, shared by the tests in this folder and by
 * bench/accuracy.ts. They start an upstream that records when each request arrived, two
 * `bulwark start` processes on one Redis and load clients in processes of their own, and
 * check the admitted requests against a limit.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { Redis } from 'ioredis';

import { CliProcess, ROOT } from '../helpers/cli.js';
import { send } from '../helpers/http.js';
import { deleteKeys } from '../helpers/redis-keys.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import type { ClientPlan, ClientReport, Tally } from './client.js';

const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** One request that reached the upstream, so one request that the gateways admitted. */
export interface Arrival {
  path: string;
  /** The Host the client used, which names the gateway that forwarded the request. */
  gateway: string;
  /** Epoch milliseconds, from the client's clock, when the client sent the request. */
  sentAt: number;
  /** Epoch milliseconds when the upstream received the request. */
  receivedAt: number;
}

export interface RecordingUpstream extends Upstream {
  arrivals: Arrival[];
}

/**
 * Starts an upstream that records every request's arrival and responds 200. Clients and
 * upstream run on one machine, so their `Date.now()` readings share one clock, and that is
 * also the clock Redis reads for its decisions.
 */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const arrivals: Arrival[] = [];
  const upstream = await startUpstream((req, res) => {
    arrivals.push({
      path: req.url ?? '',
      gateway: String(req.headers['x-forwarded-host'] ?? ''),
      sentAt: Number(req.headers['x-sent-at'] ?? Number.NaN),
      receivedAt: Date.now(),
    });
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  return Object.assign(upstream, { arrivals });
}

/** One `bulwark start` process of a pair. */
export interface GatewayInstance {
  name: string;
  url: string;
  /** The `host:port` that clients send as Host and the upstream receives as X-Forwarded-Host. */
  host: string;
  eventsFile: string;
  cli: CliProcess;
}

export interface GatewayPairOptions {
  /** Folder for the configuration and events files. */
  dir: string;
  upstream: string;
  redis: string;
  keyPrefix: string;
  /** `rateLimits`, `routes` and `trustProxy` as in bulwark.yaml, the same on both instances. */
  policy: Record<string, unknown>;
  /** Storage settings of each instance, laid over the shared ones (e.g. `onRedisFailure`). */
  storage?: [Record<string, unknown>, Record<string, unknown>];
  /** Defaults to 1 s; see `startGatewayPair`. */
  commandTimeout?: string;
}

/**
 * Writes a configuration file for each of two instances and starts both with
 * `bulwark start --config FILE`, each on a port of its own, sharing Redis, key prefix and
 * limits, with `expectedInstances: 2`. The Redis command timeout is 1 s unless set. On a
 * loaded machine the default 100 ms can expire while the reply waits behind other work in
 * the gateway's event loop. The local fallback then decides that check, and totals are no
 * longer exact.
 */
export async function startGatewayPair(options: GatewayPairOptions): Promise<GatewayInstance[]> {
  const names = ['a', 'b'];
  return Promise.all(
    names.map(async (name, index) => {
      const eventsFile = join(options.dir, `events-${name}.jsonl`);
      const configFile = join(options.dir, `gateway-${name}.yaml`);
      const config = {
        listen: { host: '127.0.0.1', port: 0 },
        upstream: options.upstream,
        dataDir: options.dir,
        events: { sink: 'file', file: eventsFile },
        storage: {
          redis: options.redis,
          keyPrefix: options.keyPrefix,
          expectedInstances: 2,
          commandTimeout: options.commandTimeout ?? '1s',
          ...options.storage?.[index],
        },
        ...options.policy,
      };
      // JSON is YAML, so the file needs no serializer of its own.
      writeFileSync(configFile, JSON.stringify(config, null, 2));
      const cli = new CliProcess(['start', '--config', configFile], options.dir);
      const started = await cli.waitForLog('gateway started');
      const url = String(started.url);
      return { name, url, host: new URL(url).host, eventsFile, cli };
    }),
  );
}

/** Stops each instance with SIGTERM and returns the exit codes; kills one that hangs. */
export async function stopGateways(gateways: readonly GatewayInstance[]): Promise<number[]> {
  return Promise.all(
    gateways.map(async ({ cli }) => {
      if (cli.child.exitCode !== null || cli.child.signalCode !== null) {
        return cli.child.exitCode ?? -1;
      }
      cli.child.kill('SIGTERM');
      const timer = setTimeout(() => cli.kill(), 10_000);
      const exit = await cli.exited;
      clearTimeout(timer);
      return exit.code ?? -1;
    }),
  );
}

/** Runs one client process per plan, all at once, and resolves with their reports. */
export function runClients(plans: readonly ClientPlan[]): Promise<ClientReport[]> {
  return Promise.all(plans.map(runClient));
}

function runClient(plan: ClientPlan): Promise<ClientReport> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CLIENT, JSON.stringify(plan)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`load client exited with code ${code}:\n${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout) as ClientReport);
    });
  });
}

/** Adds up the responses, over every report, whose fields match `where`. */
export function countResponses(
  reports: readonly ClientReport[],
  where: Partial<Omit<Tally, 'count'>> = {},
): number {
  let total = 0;
  for (const report of reports) {
    for (const tally of report.tallies) {
      const matches = (Object.keys(where) as Array<keyof typeof where>).every(
        (field) => tally[field] === where[field],
      );
      if (matches) total += tally.count;
    }
  }
  return total;
}

/** Adds up a numeric field over every report. */
export function sumReports(
  reports: readonly ClientReport[],
  field: 'sent' | 'rejectedWithoutHeaders',
): number {
  return reports.reduce((total, report) => total + report[field], 0);
}

/**
 * Returns the largest number of arrivals that were certainly admitted inside one half-open
 * interval of `windowMs` milliseconds.
 *
 * The admission time of a request is not observable from outside: Redis decided it at some
 * whole millisecond between the client's send time and the upstream's receive time. Only
 * arrivals whose whole [sentAt, receivedAt] span lies inside [t, t + windowMs) certainly
 * fall into that interval. So this count never exceeds the true maximum, and it still
 * catches a limit that admits too many when the latency is short against the window.
 * Counting receive times alone would add the jitter of the forwarding latency, because two
 * requests admitted exactly one window apart can reach the upstream less than a window apart.
 */
export function maxCertainlyInWindow(arrivals: readonly Arrival[], windowMs: number): number {
  const sorted = [...arrivals].sort((a, b) => a.sentAt - b.sentAt);
  let max = 0;
  for (let first = 0; first < sorted.length; first++) {
    const end = sorted[first]!.sentAt + windowMs;
    let count = 0;
    for (let i = first; i < sorted.length && sorted[i]!.sentAt < end; i++) {
      if (sorted[i]!.receivedAt < end) count += 1;
    }
    max = Math.max(max, count);
  }
  return max;
}

/**
 * Returns the largest number of arrivals received inside one half-open interval of
 * `windowMs`. It can exceed what the limiter admitted in any window by the jitter of the
 * forwarding latency (see `maxCertainlyInWindow`).
 */
export function maxReceivedInWindow(arrivals: readonly Arrival[], windowMs: number): number {
  const times = arrivals.map((arrival) => arrival.receivedAt).sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while (times[last]! - times[first]! >= windowMs) first += 1;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

/**
 * Returns the maximum number of requests GCRA admits in a half-open interval of `spanMs`.
 * Each admission pushes the theoretical arrival time one emission interval I further. A
 * request is admitted while that time is at most (burst - 1) × I ahead, so n requests
 * admitted within a span shorter than `spanMs` satisfy (n - burst) × I < spanMs. I is
 * rounded up to 1/2048 ms as the store does.
 */
export function gcraMaxInSpan(limit: number, windowMs: number, burst: number, spanMs: number) {
  const interval = Math.ceil((windowMs * 2048) / limit) / 2048;
  return burst + Math.ceil(spanMs / interval) - 1;
}

/** Returns a key prefix that no other run uses, e.g. `bwk-dist-1a2b3c4d:`. */
export function randomKeyPrefix(label: string): string {
  return `bwk-${label}-${randomUUID().slice(0, 8)}:`;
}

/**
 * Deletes every rate-limit key written under `keyPrefix`. The store puts the prefix, less
 * its trailing colons, in braces as the Redis Cluster hash tag: `{bwk-dist-1a2b3c4d}:rl:…`.
 */
export async function deleteRateLimitKeys(redisUrl: string, keyPrefix: string): Promise<number> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return await deleteKeys(client, `{${keyPrefix.replace(/:+$/, '')}}:*`);
  } finally {
    client.disconnect();
  }
}

/** Reads the security events a gateway has written so far, ignoring a line still being written. */
export function readEvents(gateway: GatewayInstance): Array<Record<string, unknown>> {
  if (!existsSync(gateway.eventsFile)) return [];
  const lines = readFileSync(gateway.eventsFile, 'utf8').split('\n');
  lines.pop();
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Returns the types of the store state events (`ratelimit.store_*`) written, in order. */
export function storeEventTypes(gateway: GatewayInstance): string[] {
  return readEvents(gateway)
    .map((event) => String(event.type))
    .filter((type) => type.startsWith('ratelimit.store_'));
}

/** Reads the `bulwark_ratelimit_store_degraded` gauge from the gateway's metrics. */
export async function degradedGauge(gateway: GatewayInstance): Promise<number> {
  const reply = await send(gateway.url, '/_bulwark/metrics');
  const match = /^bulwark_ratelimit_store_degraded (\S+)$/m.exec(reply.text);
  if (!match) {
    throw new Error(`bulwark_ratelimit_store_degraded missing from the metrics of ${gateway.url}`);
  }
  return Number(match[1]);
}

/** Polls `condition` every 50 ms until it is true; throws naming `description` after `timeoutMs`. */
export async function waitFor(
  description: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
