import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createLogger } from '../../src/core/logger.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { sendSlowly } from './raw-client.js';

// A slow client sends 8 bytes every 200 ms, 40 bytes a second, far under 1 KiB a second.
const SLOW = { piece: 'aaaaaaaa', everyMs: 200, boundMs: 10_000 };

describe('gateway minimum body rate', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const events: SecurityEvent[] = [];
  let upstreamBodies = 0;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      upstreamBodies += 1;
      req.resume();
      req.on('end', () => res.end('ok'));
      req.on('error', () => undefined);
    });
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        limits: { minBodyRate: { bytesPerSecond: '1kb', window: '1s', grace: '0s' } },
      },
      {
        bus,
        logger: createLogger(
          { level: 'warn' },
          {
            write: (line: string) =>
              void logLines.push(JSON.parse(line) as Record<string, unknown>),
          },
        ),
      },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  beforeEach(() => {
    events.length = 0;
    upstreamBodies = 0;
  });

  it('slow JSON body gets 408', async () => {
    const slow = sendSlowly(gateway.url, {
      path: '/orders',
      headers: { 'content-type': 'application/json', 'content-length': 100_000 },
      ...SLOW,
    });
    // A normal request on its own connection is served while the slow one trickles.
    const normal = await send(gateway.url, '/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"fast":true}',
    });
    const result = await slow;

    expect(normal.status).toBe(200);
    expect(result.status).toBe(408);
    expect(result.response).toContain('BWK_ERR_BODY_TIMEOUT');
    // Only the normal request reached the upstream; the slow body was read by the gateway.
    expect(upstreamBodies).toBe(1);
    const event = events.find((candidate) => candidate.type === 'http.body_too_slow');
    expect(event).toMatchObject({ category: 'violation', outcome: 'blocked' });
    expect(event?.details).toMatchObject({ bytesPerSecond: 1024, windowMs: 1000 });
    expect(logLines.map((line) => line.msg)).toContain(
      'request body arrived too slowly; connection closed',
    );
    expect(logLines[0]).toMatchObject({ ip: '127.0.0.1', code: 'BWK_ERR_BODY_TIMEOUT' });
  });

  it('slow streamed body gets 408', async () => {
    const slow = sendSlowly(gateway.url, {
      path: '/upload',
      headers: { 'content-type': 'application/octet-stream', 'content-length': 100_000 },
      ...SLOW,
    });
    const normal = await send(gateway.url, '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'fast',
    });
    const result = await slow;

    expect(normal.status).toBe(200);
    expect(result.status).toBe(408);
    const event = events.find((candidate) => candidate.type === 'http.body_too_slow');
    expect(event?.details).toMatchObject({ streamed: true });
  });

  it('slow bodies counted in metrics', async () => {
    const reply = await send(gateway.url, '/_bulwark/metrics');

    expect(reply.status).toBe(200);
    const line = reply.text
      .split('\n')
      .find((row) => row.startsWith('bulwark_slow_request_bodies_total'));
    expect(Number(line?.split(' ')[1])).toBeGreaterThanOrEqual(2);
  });

  it('steady body passes rate check', async () => {
    // 2 KiB every 200 ms is 10 KiB a second, well over the minimum, for over a second.
    const { connect } = await import('node:net');
    const { hostname, port } = new URL(gateway.url);
    const pieces = 8;
    const piece = 'b'.repeat(2048);
    const response = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), hostname);
      let text = '';
      let sent = 0;
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', () => socket.destroy());
      socket.on('connect', () => {
        socket.write(
          `POST /upload HTTP/1.1\r\nhost: a\r\ncontent-type: application/octet-stream\r\ncontent-length: ${pieces * piece.length}\r\nconnection: close\r\n\r\n`,
        );
        const timer = setInterval(() => {
          socket.write(piece);
          sent += 1;
          if (sent === pieces) clearInterval(timer);
        }, 200);
      });
    });

    expect(response).toMatch(/^HTTP\/1\.1 200 /);
  });
});
