/**
 * A load client that runs as a process of its own, so that the distributed tests and the
 * accuracy benchmark load the gateways from outside their event loops:
 *
 *   node --import tsx test/distributed/client.ts '<ClientPlan as JSON>'
 *
 * Request n goes to gateway n mod (number of targets), with path number floor(n / targets)
 * mod (number of paths), so every gateway receives every path. Each request carries its send
 * time (`x-sent-at`, epoch milliseconds) for the upstream to record. When the plan is done,
 * the client prints one `ClientReport` as JSON on stdout and exits 0, even if requests
 * failed: failures are counted, not thrown.
 */
import { Agent, request } from 'node:http';

export interface ClientPlan {
  /** Gateway base URLs, e.g. `http://127.0.0.1:8080`. */
  targets: string[];
  paths: string[];
  /** Upper bound on requests sent. */
  requests: number;
  /** Requests in flight at once, each on its own keep-alive connection. */
  concurrency: number;
  method?: string;
  headers?: Record<string, string>;
  /** No request starts after this many milliseconds. */
  durationMs?: number;
  /** Pause after each response before a connection sends its next request, in ms. */
  intervalMs?: number;
}

/** Responses with the same target, path, status and rate limit, counted together. */
export interface Tally {
  target: string;
  path: string;
  /** 0 when the request failed without a response. */
  status: number;
  /** The first policy's quota (`q`) in RateLimit-Policy, or null without the header. */
  limit: number | null;
  count: number;
}

export interface ClientReport {
  sent: number;
  tallies: Tally[];
  /** 429 responses that lack Retry-After, RateLimit or RateLimit-Policy. */
  rejectedWithoutHeaders: number;
  /** Smallest and largest Retry-After received on a 429, in seconds; null without any. */
  retryAfter: { min: number; max: number } | null;
  /** Messages of requests that failed without a response, at most 5. */
  errors: string[];
}

interface Outcome {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

const MAX_ERRORS_KEPT = 5;

function send(agent: Agent, url: URL, plan: ClientPlan): Promise<Outcome> {
  const headers = { ...plan.headers, 'x-sent-at': String(Date.now()) };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: plan.method ?? 'GET', headers, agent }, (res) => {
      res.resume();
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function quota(policyHeader: string | string[] | undefined): number | null {
  const match = typeof policyHeader === 'string' ? /;q=(\d+)/.exec(policyHeader) : null;
  return match ? Number(match[1]) : null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends the plan's requests and counts the responses. */
async function runPlan(plan: ClientPlan): Promise<ClientReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const deadline = plan.durationMs === undefined ? Infinity : Date.now() + plan.durationMs;
  const tallies = new Map<string, Tally>();
  const report: ClientReport = {
    sent: 0,
    tallies: [],
    rejectedWithoutHeaders: 0,
    retryAfter: null,
    errors: [],
  };

  const record = (target: string, path: string, outcome: Outcome): void => {
    const limit = quota(outcome.headers['ratelimit-policy']);
    const id = `${target} ${path} ${outcome.status} ${limit}`;
    const tally = tallies.get(id) ?? { target, path, status: outcome.status, limit, count: 0 };
    tally.count += 1;
    tallies.set(id, tally);
    if (outcome.status === 429 || outcome.status === 503) recordRejection(report, outcome.headers);
  };

  const worker = async (): Promise<void> => {
    while (report.sent < plan.requests && Date.now() < deadline) {
      const n = report.sent;
      report.sent += 1;
      const target = plan.targets[n % plan.targets.length]!;
      const path = plan.paths[Math.floor(n / plan.targets.length) % plan.paths.length]!;
      try {
        record(target, path, await send(agent, new URL(path, target), plan));
      } catch (error) {
        record(target, path, { status: 0, headers: {} });
        if (report.errors.length < MAX_ERRORS_KEPT) report.errors.push((error as Error).message);
      }
      if (plan.intervalMs) await sleep(plan.intervalMs);
    }
  };

  await Promise.all(Array.from({ length: plan.concurrency }, worker));
  agent.destroy();
  report.tallies = [...tallies.values()];
  return report;
}

function recordRejection(
  report: ClientReport,
  headers: Record<string, string | string[] | undefined>,
): void {
  const retryAfter = Number(headers['retry-after']);
  if (
    headers['retry-after'] === undefined ||
    headers['ratelimit'] === undefined ||
    headers['ratelimit-policy'] === undefined
  ) {
    report.rejectedWithoutHeaders += 1;
  }
  if (!Number.isFinite(retryAfter)) return;
  const seen = report.retryAfter;
  report.retryAfter = seen
    ? { min: Math.min(seen.min, retryAfter), max: Math.max(seen.max, retryAfter) }
    : { min: retryAfter, max: retryAfter };
}

// Importers take only the types (`import type`), so this runs only as a script.
const plan = JSON.parse(process.argv[2] ?? '') as ClientPlan;
process.stdout.write(`${JSON.stringify(await runPlan(plan))}\n`);
