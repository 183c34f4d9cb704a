/**
 * The load side of the gateway benchmarks: child-process servers (bench/servers.ts), load
 * runs with autocannon or wrk (BENCH_LOAD=wrk), and CPU time per request read from the
 * servers themselves.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';

import autocannon from 'autocannon';

export const CONNECTIONS = 50;
export const USE_WRK = process.env.BENCH_LOAD === 'wrk';

export interface ChildServer {
  url: string;
  /** Request headers the load must send, e.g. a credential the server created. */
  headers: Record<string, string>;
  /** Path and query the load requests; `/orders` when unset. */
  path?: string;
  child: ChildProcess;
  lines: Interface;
}

export async function startServer(args: string[]): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/servers.ts', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  const announced = JSON.parse(line) as { url: string; headers?: Record<string, string> };
  return { url: announced.url, headers: announced.headers ?? {}, child, lines };
}

/** Returns the CPU time the server process has used so far, in microseconds. */
export async function cpuMicros(server: ChildServer): Promise<number> {
  const reply = once(server.lines, 'line') as Promise<[string]>;
  server.child.stdin!.write('cpu\n');
  const [line] = await reply;
  return (JSON.parse(line) as { cpuMicros: number }).cpuMicros;
}

export interface LoadResult {
  rps: number;
  requests: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export async function load(server: ChildServer, seconds: number): Promise<LoadResult> {
  if (USE_WRK) return loadWithWrk(server, seconds);
  const result = await autocannon({
    url: `${server.url}${server.path ?? '/orders'}`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: server.headers,
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
function loadWithWrk(server: ChildServer, seconds: number): LoadResult {
  const headerArgs = Object.entries(server.headers).flatMap(([name, value]) => [
    '-H',
    `${name}: ${value}`,
  ]);
  const output = execFileSync(
    'wrk',
    [
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--latency',
      ...headerArgs,
      `${server.url}${server.path ?? '/orders'}`,
    ],
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

export interface RunResult extends LoadResult {
  /** Proxy CPU time per request, in microseconds. */
  proxyCpu: number;
  /** Upstream CPU time per request, in microseconds. */
  upstreamCpu: number;
}

export async function measure(
  proxy: ChildServer,
  upstream: ChildServer,
  seconds: number,
): Promise<RunResult> {
  const [proxyBefore, upstreamBefore] = [await cpuMicros(proxy), await cpuMicros(upstream)];
  const result = await load(proxy, seconds);
  const [proxyAfter, upstreamAfter] = [await cpuMicros(proxy), await cpuMicros(upstream)];
  return {
    ...result,
    proxyCpu: (proxyAfter - proxyBefore) / result.requests,
    upstreamCpu: (upstreamAfter - upstreamBefore) / result.requests,
  };
}

export interface Summary {
  rps: number;
  p99: number;
  proxyCpu: number;
  upstreamCpu: number;
  /** Requests per second of each run. */
  each: string;
  failures: number;
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

export function summarize(runs: RunResult[]): Summary {
  return {
    rps: mean(runs.map((r) => r.rps)),
    p99: mean(runs.map((r) => r.p99)),
    proxyCpu: mean(runs.map((r) => r.proxyCpu)),
    upstreamCpu: mean(runs.map((r) => r.upstreamCpu)),
    each: runs.map((r) => r.rps.toFixed(0)).join(' '),
    failures: runs.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
  };
}
