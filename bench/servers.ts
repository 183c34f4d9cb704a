/**
 * Child-process servers for bench/gateway.ts, so that the load generator, the proxy under test
 * and the upstream do not share one event loop. Usage:
 *   tsx bench/servers.ts upstream
 *   tsx bench/servers.ts bare <upstreamUrl>
 *   tsx bench/servers.ts gateway <upstreamUrl> [redisUrl]
 *   tsx bench/servers.ts auth <upstreamUrl> none|apikey|apikey-uncached|jwt|jwt-uncached
 *   tsx bench/servers.ts http-policy <upstreamUrl> policy|minimal
 * Each prints its URL as one line of JSON on stdout once listening (`auth` adds the headers
 * that carry the credential it created). For each line `cpu` read
 * on stdin, it writes one JSON line to stdout with the CPU time used so far, in microseconds.
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

import { Pool } from 'undici';

import { validateConfig } from '../src/core/config.js';
import { startAuthGateway } from './auth-gateway.js';
import { startHttpPolicyGateway } from './http-policy-gateway.js';
import { HOP_BY_HOP } from '../src/gateway/headers.js';
import { Gateway } from '../src/gateway/server.js';

const [role, upstream, redis] = process.argv.slice(2);

// On a signal, report the CPU time used on stderr and exit normally, so that --cpu-prof
// can write its profile.
function exitWithReport(): void {
  const { user, system } = process.cpuUsage();
  console.error(`${role}: ${((user + system) / 1000).toFixed(0)} ms CPU`);
  process.exit(0);
}
process.on('SIGINT', exitWithReport);
process.on('SIGTERM', exitWithReport);

// The parent reads the CPU time before and after each load run to compute CPU per request.
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'cpu') return;
  const { user, system } = process.cpuUsage();
  console.log(JSON.stringify({ cpuMicros: user + system }));
});

function announce(server: ReturnType<typeof createServer>): void {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
}

// The same pool settings as the gateway's for `upstream: <url>` (src/gateway/server.ts).
const POOL_OPTIONS = {
  connections: 128,
  connectTimeout: 5_000,
  headersTimeout: 30_000,
  bodyTimeout: 30_000,
};

/**
 * Hop-by-hop headers (RFC 9110 section 7.6.1), which a proxy must not forward, and Host,
 * which undici sets from the upstream origin.
 */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'host']);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!NOT_FORWARDED.has(name)) out[name] = headers[name];
  return out;
}

if (role === 'upstream') {
  const body = JSON.stringify({ orders: [{ id: 1, item: 'punched cards', quantity: 500 }] });
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => announce(server));
} else if (role === 'bare') {
  // The baseline: a minimal streaming proxy with no guards, ids or metrics. It does what any
  // correct proxy must: forwards end-to-end request headers and the body, sets
  // X-Forwarded-For, and strips hop-by-hop headers in both directions.
  const pool = new Pool(upstream!, POOL_OPTIONS);
  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    const headers = endToEnd(req.headers);
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'];
    pool
      .stream(
        {
          path: req.url ?? '/',
          method: req.method as 'GET',
          headers: headers as Record<string, string>,
          body: hasBody ? req : null,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, endToEnd(headers as IncomingHttpHeaders));
          return res;
        },
      )
      .catch(() => {
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      });
  });
  server.listen(0, '127.0.0.1', () => announce(server));
} else if (role === 'gateway') {
  // Three limits per request, high enough that none rejects, so every request is forwarded.
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    upstream,
    events: { sink: 'none' },
    logging: { level: 'silent' },
    storage: redis ? { redis, keyPrefix: `bench:${process.pid}:` } : undefined,
    rateLimits: [
      { name: 'per-ip', key: 'ip', limit: 100_000_000, window: '1m', algorithm: 'gcra' },
      {
        name: 'per-ip-hour',
        key: 'ip',
        limit: 100_000_000,
        window: '1h',
        algorithm: 'sliding-window-counter',
      },
    ],
    routes: [
      {
        match: 'GET /orders',
        rateLimits: [
          { name: 'orders', key: 'ip+route', limit: 100_000_000, window: '1m', algorithm: 'gcra' },
        ],
      },
    ],
  });
  const gateway = new Gateway(config);
  gateway.listen().then((url) => console.log(JSON.stringify({ url })));
} else if (role === 'auth') {
  startAuthGateway(upstream!, redis!).then((announced) => console.log(JSON.stringify(announced)));
} else if (role === 'http-policy') {
  // The third argument is the mode here, not a Redis URL.
  startHttpPolicyGateway(upstream!, redis!).then((url) => console.log(JSON.stringify({ url })));
} else {
  console.error(`unknown role "${role}": expected upstream, bare, gateway, auth or http-policy`);
  process.exit(2);
}
