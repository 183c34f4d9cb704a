import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { sendUntilCut } from './raw-client.js';

const LIMIT = 64 * 1024;
// Far more than loopback socket buffers hold, so a body read to its end would show.
const FLOOD = 64 * 1024 * 1024;
const FLOOD_MARGIN = 16 * 1024 * 1024;

/** What the upstream received for one request. */
interface Received {
  url: string;
  bytes: number;
  complete: boolean;
  headers: Record<string, string | string[] | undefined>;
}

describe('gateway body size limits', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const received: Received[] = [];
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const entry: Received = {
        url: req.url ?? '',
        bytes: 0,
        complete: false,
        headers: req.headers,
      };
      received.push(entry);
      req.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
      req.on('end', () => {
        entry.complete = true;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes: entry.bytes }));
      });
      req.on('error', () => undefined);
    });
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        limits: { maxBodySize: LIMIT },
        routes: [{ match: 'POST /large', limits: { maxBodySize: '1mb' } }],
      },
      { bus },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  beforeEach(() => {
    received.length = 0;
    events.length = 0;
  });

  it('content-length over limit rejected unread', async () => {
    const result = await sendUntilCut(gateway.url, {
      path: '/upload',
      headers: { 'content-type': 'application/octet-stream', 'content-length': FLOOD },
      total: FLOOD,
      chunked: false,
    });

    expect(result.completed).toBe(false);
    expect(result.bodyBytesWritten).toBeLessThan(FLOOD_MARGIN);
    expect(received).toHaveLength(0);
    expect(result.status).toBe(413);
    expect(result.response).toContain('BWK_ERR_BODY_TOO_LARGE');
  });

  it('chunked stream cut at limit', async () => {
    const result = await sendUntilCut(gateway.url, {
      path: '/upload',
      headers: { 'content-type': 'application/octet-stream' },
      total: FLOOD,
      chunked: true,
    });

    expect(result.completed).toBe(false);
    expect(result.bodyBytesWritten).toBeLessThan(FLOOD_MARGIN);
    // The upstream saw at most the limit, and never a complete body.
    expect(received.every((entry) => entry.bytes <= LIMIT && !entry.complete)).toBe(true);
    expect(result.status).toBe(413);
    expect(result.response).toContain('BWK_ERR_BODY_TOO_LARGE');
    const event = events.find((candidate) => candidate.type === 'http.request_too_large');
    expect(event?.details).toMatchObject({ limit: 'maxBodySize', max: LIMIT, streamed: true });
    expect(event?.outcome).toBe('blocked');
  });

  it('chunked JSON cut before upstream', async () => {
    const result = await sendUntilCut(gateway.url, {
      path: '/orders',
      headers: { 'content-type': 'application/json' },
      total: FLOOD,
      chunked: true,
    });

    expect(result.completed).toBe(false);
    expect(result.bodyBytesWritten).toBeLessThan(FLOOD_MARGIN);
    expect(received).toHaveLength(0);
    expect(result.status).toBe(413);
  });

  it('body within limit streams whole', async () => {
    const body = Buffer.alloc(LIMIT, 0x62);
    const reply = await send(gateway.url, '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });

    expect(reply.status).toBe(200);
    expect(json(reply).bytes).toBe(LIMIT);
  });

  it('route limit replaces global', async () => {
    const body = Buffer.alloc(LIMIT * 4, 0x62);
    const onRoute = await send(gateway.url, '/large', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    const elsewhere = await send(gateway.url, '/small', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });

    expect(onRoute.status).toBe(200);
    expect(elsewhere.status).toBe(413);
    expect(json(elsewhere)).toMatchObject({ limit: 'maxBodySize', max: LIMIT });
  });

  it('chunked JSON forwarded with length', async () => {
    const reply = await sendChunked(gateway.url, '/orders', '{"item":', '"tea"}');

    expect(reply).toContain('HTTP/1.1 200');
    expect(received).toHaveLength(1);
    expect(received[0]?.headers['content-length']).toBe('14');
    expect(received[0]?.headers['transfer-encoding']).toBeUndefined();
  });
});

/** Sends a chunked body in two chunks over a raw socket and returns the raw response. */
async function sendChunked(url: string, path: string, ...pieces: string[]): Promise<string> {
  const { connect } = await import('node:net');
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let response = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      response += text;
      if (response.includes('\r\n\r\n')) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(response));
    socket.on('connect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`,
      );
      for (const piece of pieces)
        socket.write(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
      socket.write('0\r\n\r\n');
    });
  });
}
