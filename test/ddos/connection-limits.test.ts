import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { attempt, openRaw, type RawConnection } from './sockets.js';
import { waitFor } from './wait.js';

// Each test uses its own loopback addresses as its clients, so counts never mix.
let upstream: Upstream;
let gateway: Gateway;
const events: SecurityEvent[] = [];
const upstreamPeers: string[] = [];

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    upstreamPeers.push(String(req.headers['x-forwarded-for']));
    okHandler(req, res);
  });
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      connections: {
        perIp: { maxConcurrent: 3, maxNewPerSecond: 1_000, allow: ['127.0.0.9'] },
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

async function openMany(count: number, localAddress: string): Promise<RawConnection[]> {
  return Promise.all(Array.from({ length: count }, () => openRaw(gateway.url, localAddress)));
}

function closeAll(connections: RawConnection[]): void {
  for (const connection of connections) connection.socket.destroy();
}

describe('per-IP connection limits', () => {
  it('resets a connection over the concurrent limit before reading it', async () => {
    const open = await openMany(3, '127.0.0.2');

    const excess = await attempt(gateway.url, '/orders', '127.0.0.2');

    expect(excess).toEqual({ error: 'ECONNRESET' });
    expect(upstreamPeers).not.toContain('127.0.0.2');
    closeAll(open);
  });

  it('admits other clients while one is at its limit', async () => {
    const open = await openMany(3, '127.0.0.3');

    const other = await attempt(gateway.url, '/orders', '127.0.0.4');

    expect(other).toEqual({ status: 200 });
    closeAll(open);
  });

  it('admits a client again once a connection closes', async () => {
    const open = await openMany(3, '127.0.0.5');
    expect(await attempt(gateway.url, '/orders', '127.0.0.5')).toEqual({ error: 'ECONNRESET' });

    open[0]!.socket.destroy();

    // The gateway sees the close a moment later; until then an attempt is still reset.
    let result = await attempt(gateway.url, '/orders', '127.0.0.5');
    for (let tries = 0; 'error' in result && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      result = await attempt(gateway.url, '/orders', '127.0.0.5');
    }
    expect(result).toEqual({ status: 200 });
    closeAll(open);
  });

  it('never throttles an allowlisted address', async () => {
    const open = await openMany(6, '127.0.0.9');

    const more = await attempt(gateway.url, '/orders', '127.0.0.9');

    expect(more).toEqual({ status: 200 });
    closeAll(open);
  });

  it('reports one event per client and interval', async () => {
    const open = await openMany(3, '127.0.0.6');
    const rejected = await Promise.all(
      Array.from({ length: 5 }, () => attempt(gateway.url, '/orders', '127.0.0.6')),
    );
    expect(rejected.every((result) => 'error' in result)).toBe(true);

    const isMine = (event: SecurityEvent) =>
      event.type === 'ddos.connection_rejected' && event.actor.ip === '127.0.0.6';
    await waitFor(() => events.some(isMine));
    await new Promise((resolve) => setTimeout(resolve, 300));

    const reports = events.filter(isMine);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.details).toMatchObject({
      client: '127.0.0.6',
      rejected: 5,
      reasons: { concurrent: 5 },
      maxConcurrent: 3,
    });
    expect(reports[0]!.category).toBe('violation');
    closeAll(open);
  });

  it('counts rejections and open connections in metrics', async () => {
    const open = await openMany(3, '127.0.0.7');
    await attempt(gateway.url, '/orders', '127.0.0.7');

    const metrics = await send(gateway.url, '/_bulwark/metrics');

    expect(metrics.text).toMatch(
      /^bulwark_connections_rejected_total\{reason="concurrent"\} [1-9]/m,
    );
    expect(metrics.text).toMatch(/^bulwark_connections_open [3-9]/m);
    closeAll(open);
  });
});

describe('new connections per second', () => {
  let limited: Gateway;

  beforeAll(async () => {
    limited = await startGateway({
      upstream: upstream.url,
      connections: { perIp: { maxConcurrent: 100, maxNewPerSecond: 5, allow: [] } },
    });
  });

  afterAll(() => limited.stop());

  it('resets connections over the rate after the burst', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => attempt(limited.url, '/orders', '127.0.0.8')),
    );

    const admitted = results.filter((result) => 'status' in result).length;
    // A burst of 5; a slow machine may refill a token or two while the 20 arrive.
    expect(admitted).toBeGreaterThanOrEqual(5);
    expect(admitted).toBeLessThanOrEqual(8);
    expect(results.filter((result) => 'error' in result).length).toBe(20 - admitted);
  });
});
