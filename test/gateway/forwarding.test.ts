import { request } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

interface Seen {
  method: string;
  url: string;
  body: string;
}

describe('gateway forwarding', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  let prefixed: Gateway;
  // Resolves with whether the upstream received the whole body of the last /upload.
  let uploadClosed: Promise<boolean>;
  let markUploadClosed: (complete: boolean) => void;
  let markUploadStarted: () => void;
  let uploadStarted: Promise<void>;

  beforeAll(async () => {
    uploadClosed = new Promise((resolve) => (markUploadClosed = resolve));
    uploadStarted = new Promise((resolve) => (markUploadStarted = resolve));
    upstream = await startUpstream((req, res) => {
      if (req.url === '/upload') {
        req.once('data', () => markUploadStarted());
        req.on('close', () => markUploadClosed(req.complete));
        req.resume();
        return;
      }
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        if (status === 204 || status === 304 || req.method === 'HEAD') {
          res.writeHead(status, { 'x-method': String(req.method) });
          res.end();
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        const seen: Seen = { method: String(req.method), url: String(req.url), body };
        res.end(JSON.stringify(seen));
      });
    });
    gateway = await startGateway({ upstream: upstream.url });
    prefixed = await startGateway({ upstream: `${upstream.url}/api/v1/` });
  });

  afterAll(async () => {
    await gateway.stop();
    await prefixed.stop();
    await upstream.close();
  });

  it.each(['PUT', 'PATCH', 'DELETE', 'POST'])('%s method and body forwarded', async (method) => {
    const reply = await send(gateway.url, '/orders/7?expand=items&x=%20y', {
      method,
      headers: { 'content-type': 'application/json' },
      body: '{"qty":2}',
    });
    expect(reply.status).toBe(200);
    const seen = json<Seen>(reply);
    expect(seen.method).toBe(method);
    expect(seen.url).toBe('/orders/7?expand=items&x=%20y');
    expect(seen.body).toBe('{"qty":2}');
  });

  it('upstream base path is prefixed', async () => {
    const reply = await send(prefixed.url, '/orders?page=2');
    expect(json<Seen>(reply).url).toBe('/api/v1/orders?page=2');
  });

  it.each([404, 500, 503])('upstream status %i passes through', async (status) => {
    const reply = await send(gateway.url, `/anything?status=${status}`);
    expect(reply.status).toBe(status);
    expect(reply.headers['content-type']).toBe('application/json');
  });

  it.each([204, 304])('bodiless status %i passes through', async (status) => {
    const reply = await send(gateway.url, `/empty?status=${status}`);
    expect(reply.status).toBe(status);
    expect(reply.text).toBe('');
  });

  it('HEAD request gets no body', async () => {
    const reply = await send(gateway.url, '/orders', { method: 'HEAD' });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-method']).toBe('HEAD');
    expect(reply.text).toBe('');
  });

  it('client abort mid-upload aborts upstream', async () => {
    const req = request(`${gateway.url}/upload`, {
      method: 'POST',
      agent: false,
      headers: { 'content-length': 1024 * 1024 },
    });
    req.on('error', () => {});
    req.write(Buffer.alloc(1024));
    await uploadStarted;
    req.destroy();

    expect(await uploadClosed).toBe(false);
    const after = await send(gateway.url, '/orders');
    expect(after.status).toBe(200);
  });
});
