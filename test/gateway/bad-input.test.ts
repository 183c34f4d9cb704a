import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Writes raw bytes to the gateway and returns everything it sends back before closing. */
function rawExchange(url: string, payload: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.on('connect', () => socket.write(payload));
  });
}

function statusLine(response: string): string {
  return response.slice(0, response.indexOf('\r\n'));
}

describe('gateway bad input', () => {
  let upstream: Upstream;
  const upstreamPaths: string[] = [];
  let releaseSlowBody!: () => void;
  const slowBodyGate = new Promise<void>((resolve) => (releaseSlowBody = resolve));
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      upstreamPaths.push(req.url ?? '');
      req.resume();
      if (req.url === '/slow-body') {
        res.writeHead(200, { 'content-length': 20 });
        res.write('first-half');
        void slowBodyGate.then(() => res.end('secondhalf'));
        return;
      }
      res.end('ok');
    });
    gateway = await startGateway({
      upstream: upstream.url,
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1000, window: '1m' }],
      routes: [
        {
          match: 'GET /orders/:id',
          rateLimits: [{ name: 'order', key: ['ip', 'route'], limit: 100, window: '1m' }],
        },
      ],
    });
  });

  afterAll(async () => {
    releaseSlowBody();
    await gateway.stop();
    await upstream.close();
  });

  async function expectStillServing(): Promise<void> {
    const reply = await send(gateway.url, '/health-check');
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('ok');
  }

  it.each([
    ['garbage bytes', 'GARBAGE\r\n\r\n'],
    ['binary noise', Buffer.from([0x00, 0xff, 0x16, 0x03, 0x01, 0x0d, 0x0a, 0x0d, 0x0a])],
    ['bad version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['space in header name', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'],
    [
      'length and chunked together',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
  ])('malformed request gets 400: %s', async (_case, payload) => {
    const response = await rawExchange(gateway.url, payload);
    expect(statusLine(response)).toBe('HTTP/1.1 400 Bad Request');
    await expectStillServing();
  });

  it('huge header gets 431', async () => {
    const response = await rawExchange(
      gateway.url,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
    );
    expect(statusLine(response)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    await expectStillServing();
  });

  it.each(['/%E0%A4%A', '/%zz', '/orders/%E0%A4%A', '/orders/%zz%', '/orders/%C0%AF'])(
    'invalid percent-encoding %s does not crash',
    async (path) => {
      const response = await rawExchange(
        gateway.url,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(statusLine(response)).toMatch(/^HTTP\/1\.1 (200|400) /);
      await expectStillServing();
    },
  );

  it('garbage during a response cuts the connection', async () => {
    const { hostname, port } = new URL(gateway.url);
    const received = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let text = '';
      let sentGarbage = false;
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        // Pipelined garbage arrives while the first response is still streaming.
        if (!sentGarbage && text.includes('first-half')) {
          sentGarbage = true;
          socket.write('GARBAGE\r\n\r\n');
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.write('GET /slow-body HTTP/1.1\r\nHost: x\r\n\r\n');
    });

    expect(statusLine(received)).toBe('HTTP/1.1 200 OK');
    expect(received).not.toContain('400 Bad Request');
    expect(received.endsWith('first-half')).toBe(true);
    await expectStillServing();
  });
});
