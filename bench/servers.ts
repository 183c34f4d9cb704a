/**
 * Child-process servers for bench/gateway.ts, so that the load generator, the proxy under test
 * and the upstream do not share one event loop. Usage:
 *   tsx bench/servers.ts upstream
 *   tsx bench/servers.ts bare <upstreamUrl>
 *   tsx bench/servers.ts gateway <upstreamUrl> [redisUrl]
 * Each prints its URL as one line of JSON on stdout once listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Pool } from 'undici';

import { validateConfig } from '../src/core/config.js';
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

function announce(server: ReturnType<typeof createServer>): void {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
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
  // The baseline: a minimal streaming proxy over the same undici pool settings, no guards.
  const pool = new Pool(upstream!, { connections: 128 });
  const server = createServer((req, res) => {
    pool
      .stream(
        {
          path: req.url ?? '/',
          method: req.method as 'GET',
          headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' },
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, headers as Record<string, string>);
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
} else {
  console.error(`unknown role "${role}": expected upstream, bare or gateway`);
  process.exit(2);
}
