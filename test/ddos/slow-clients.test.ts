import { afterAll, beforeAll, describe, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { openRaw } from './sockets.js';
import { waitFor } from './wait.js';

let upstream: Upstream;
let gateway: Gateway;
const events: SecurityEvent[] = [];

beforeAll(async () => {
  upstream = await startUpstream(okHandler);
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      connections: {
        headersTimeout: '1s',
        requestTimeout: '2s',
        keepAliveTimeout: '300ms',
        maxRequestsPerConnection: 3,
        reportInterval: '200ms',
      },
    },
    { bus },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
});

/** Writes `chunk` every `everyMs` until the connection closes; returns a stop function. */
function trickle(socket: import('node:net').Socket, chunk: string, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(chunk);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return () => clearInterval(timer);
}

async function metric(name: string, reason: string): Promise<number> {
  const text = (await send(gateway.url, '/_bulwark/metrics')).text;
  const match = new RegExp(`^${name}\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

// The tests run concurrently: each uses connections of its own, and metrics only grow.
describe.concurrent('slow and idle clients', () => {
  it('disconnects a client that trickles its headers', async ({ expect }) => {
    const slow = await openRaw(gateway.url);
    const started = Date.now();
    slow.socket.write('GET /orders HTTP/1.1\r\nHost: gateway\r\n');
    trickle(slow.socket, 'X-Padding: a\r\n', 150);

    // Other clients are served while the slow one holds its connection.
    const during = await send(gateway.url, '/orders');
    await slow.closed;
    const elapsed = Date.now() - started;

    expect(during.status).toBe(200);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    // The deadline is 1 s; the server checks it every 250 ms. Wide bounds keep this stable.
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5_000);
    expect(await metric('bulwark_connections_closed_total', 'headers_timeout')).toBeGreaterThan(0);
  });

  it('disconnects a client that connects and sends nothing', async ({ expect }) => {
    const silent = await openRaw(gateway.url);

    await silent.closed;

    expect(silent.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('disconnects a client that trickles its body', async ({ expect }) => {
    const slow = await openRaw(gateway.url);
    const started = Date.now();
    slow.socket.write(
      'POST /upload HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/plain\r\nContent-Length: 10000\r\n\r\n',
    );
    trickle(slow.socket, 'aaaaaaaaaa', 150);

    await slow.closed;
    const elapsed = Date.now() - started;

    // The request deadline is 2 s from the first byte.
    expect(elapsed).toBeGreaterThanOrEqual(1_800);
    expect(elapsed).toBeLessThan(8_000);
    expect(await metric('bulwark_connections_closed_total', 'request_timeout')).toBeGreaterThan(0);
  });

  it('closes an idle keep-alive connection', async ({ expect }) => {
    const idle = await openRaw(gateway.url);
    idle.socket.write('GET /orders HTTP/1.1\r\nHost: gateway\r\n\r\n');
    await waitFor(() => idle.received().includes('"ok":true'));

    await idle.closed;

    expect(idle.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(await metric('bulwark_connections_closed_total', 'idle_timeout')).toBeGreaterThan(0);
  });

  it('closes a connection after its maximum number of requests', async ({ expect }) => {
    const client = await openRaw(gateway.url);
    const get = 'GET /orders HTTP/1.1\r\nHost: gateway\r\n\r\n';
    client.socket.write(get + get + get);

    await waitFor(() => client.received().split('HTTP/1.1 200').length === 4);
    const responses = client.received().split(/(?=HTTP\/1\.1 )/);

    expect(responses.map((response) => response.slice(0, 12))).toEqual([
      'HTTP/1.1 200',
      'HTTP/1.1 200',
      'HTTP/1.1 200',
    ]);
    expect(responses[2]).toMatch(/^connection: close\r$/im);
    expect(await metric('bulwark_connections_closed_total', 'max_requests')).toBeGreaterThan(0);
    client.socket.destroy();
  });

  it('reports slow clients as one event per client and interval', async ({ expect }) => {
    const slow = await Promise.all([
      openRaw(gateway.url, '127.0.0.20'),
      openRaw(gateway.url, '127.0.0.20'),
    ]);
    for (const connection of slow) connection.socket.write('GET / HTTP/1.1\r\n');
    await Promise.all(slow.map((connection) => connection.closed));

    const isMine = (event: SecurityEvent) =>
      event.type === 'ddos.slow_client' && event.actor.ip === '127.0.0.20';
    await waitFor(() => events.some(isMine));
    await new Promise((resolve) => setTimeout(resolve, 300));

    const reports = events.filter(isMine);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.details).toMatchObject({
      disconnected: 2,
      reasons: { headers_timeout: 2 },
      headersTimeoutMs: 1_000,
    });
  });
});
