/**
 * Child processes of bench/flood.ts, so that the flood, the gateway and the upstream do not
 * share an event loop with the client being measured. Usage:
 *   tsx bench/flood-servers.ts upstream <workers> <serviceMs>
 *   tsx bench/flood-servers.ts gateway <upstreamUrl> shed|none
 *   tsx bench/flood-servers.ts flood <url> <requestsPerSecond> <connections> <seconds>
 * Servers print their URL as one line of JSON once listening; the gateway adds the headers
 * of an authenticated client (a JWT it signed itself). `flood` prints its result.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import autocannon from 'autocannon';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';

import { validateConfig } from '../src/core/config.js';
import { Gateway } from '../src/gateway/server.js';

const ISSUER = 'https://issuer.flood.bench';
const AUDIENCE = 'https://api.flood.bench';

const [role, ...args] = process.argv.slice(2);

process.on('SIGTERM', () => process.exit(0));

/**
 * Starts an API with a fixed capacity: `workers` requests are served at once, each taking
 * `serviceMs`, and the rest wait in line, as in a backend with a fixed thread or connection
 * pool. Its capacity is workers × 1000 / serviceMs requests per second.
 */
function startUpstream(workers: number, serviceMs: number): void {
  const waiting: ServerResponse[] = [];
  let busy = 0;
  const body = JSON.stringify({ orders: [{ id: 1, item: 'punched cards' }] });
  const next = (): void => {
    while (busy < workers && waiting.length > 0) {
      const res = waiting.shift()!;
      busy += 1;
      setTimeout(() => {
        busy -= 1;
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        next();
      }, serviceMs);
    }
  };
  const server = createServer((req, res) => {
    req.resume();
    waiting.push(res);
    next();
  });
  server.listen(0, '127.0.0.1', () => announce(server));
}

async function startGateway(upstream: string, mode: string): Promise<void> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const token = await new SignJWT({ scope: 'orders:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('legitimate-user')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    upstream,
    events: { sink: 'none' },
    logging: { level: 'silent' },
    auth: {
      methods: ['jwt', 'anonymous'],
      jwt: {
        issuers: [
          {
            issuer: ISSUER,
            audience: AUDIENCE,
            algorithms: ['ES256'],
            publicKeys: [{ pem: await exportSPKI(publicKey), alg: 'ES256' }],
          },
        ],
      },
    },
    loadShedding: mode === 'shed' ? { queue: { size: 50, timeout: '500ms' } } : undefined,
  });
  const url = await new Gateway(config).listen();
  console.log(JSON.stringify({ url, headers: { authorization: `Bearer ${token}` } }));
}

async function flood(url: string, rate: number, connections: number, seconds: number) {
  const result = await autocannon({
    url: `${url}/orders`,
    connections,
    // 0 means as fast as the connections allow.
    overallRate: rate > 0 ? rate : undefined,
    duration: seconds,
    timeout: 10,
  });
  const byStatus = result.statusCodeStats as Record<string, { count: number }> | undefined;
  console.log(
    JSON.stringify({
      requests: result.requests.total,
      ok: byStatus?.['200']?.count ?? 0,
      shed: byStatus?.['503']?.count ?? 0,
      errors: result.errors,
      timeouts: result.timeouts,
    }),
  );
}

function announce(server: ReturnType<typeof createServer>): void {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
}

if (role === 'upstream') {
  startUpstream(Number(args[0]), Number(args[1]));
} else if (role === 'gateway') {
  await startGateway(args[0]!, args[1]!);
} else if (role === 'flood') {
  await flood(args[0]!, Number(args[1]), Number(args[2]), Number(args[3]));
  process.exit(0);
} else {
  console.error(`unknown role "${role}": expected upstream, gateway or flood`);
  process.exit(2);
}
