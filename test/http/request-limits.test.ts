import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

/** Sends a raw request head and returns the raw response. */
function rawRequest(url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let response = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (response += text));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => resolve(response));
    socket.on('connect', () => socket.write(head));
  });
}

describe('gateway request limits', () => {
  let upstream: Upstream;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
    gateway = await startGateway({
      upstream: upstream.url,
      limits: { maxUrlLength: 256, maxHeaderCount: 20, maxHeaderSize: '2kb' },
      routes: [{ match: 'GET /search', limits: { maxUrlLength: 1024 } }],
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  it('long URL gets 414', async () => {
    const reply = await send(gateway.url, `/items?q=${'a'.repeat(300)}`);

    expect(reply.status).toBe(414);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_URL_TOO_LONG',
      limit: 'maxUrlLength',
      max: 256,
    });
  });

  it('route URL limit replaces global', async () => {
    const reply = await send(gateway.url, `/search?q=${'a'.repeat(600)}`);

    expect(reply.status).toBe(200);
  });

  it('too many headers get 431', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 25; i++) headers[`x-extra-${i}`] = 'v';
    const reply = await send(gateway.url, '/items', { headers });

    expect(reply.status).toBe(431);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_HEADERS_TOO_LARGE',
      limit: 'maxHeaderCount',
      max: 20,
    });
  });

  it('repeated header lines counted apart', async () => {
    const lines = Array.from({ length: 25 }, () => 'x-same: v').join('\r\n');
    const response = await rawRequest(
      gateway.url,
      `GET /items HTTP/1.1\r\nhost: a\r\n${lines}\r\nconnection: close\r\n\r\n`,
    );

    expect(response).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('large headers get 431 problem', async () => {
    const reply = await send(gateway.url, '/items', { headers: { 'x-big': 'b'.repeat(2100) } });

    expect(reply.status).toBe(431);
    expect(json(reply)).toMatchObject({ limit: 'maxHeaderSize', max: 2048 });
  });

  it('head over server limit gets 431', async () => {
    // Far over every route's limit, so Node's parser refuses it before any guard runs.
    const response = await rawRequest(
      gateway.url,
      `GET /items HTTP/1.1\r\nhost: a\r\nx-huge: ${'h'.repeat(64 * 1024)}\r\n\r\n`,
    );

    expect(response).toMatch(/^HTTP\/1\.1 431 /);
    expect(response).toContain('application/problem+json');
    expect(response).toContain('"code":"BWK_ERR_HEADERS_TOO_LARGE"');
  });

  it('requests within limits pass', async () => {
    const reply = await send(gateway.url, '/items?q=ok', { headers: { 'x-small': 'v' } });

    expect(reply.status).toBe(200);
  });
});
