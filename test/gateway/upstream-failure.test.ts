import { request, type ServerResponse } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, unusedPort, type Upstream } from '../helpers/upstream.js';

interface PartialReply {
  status: number;
  bytes: number;
  error: Error | undefined;
}

/** Reads a response to its end or until the connection breaks, whichever comes first. */
function readUntilCut(url: string): Promise<PartialReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let bytes = 0;
      let error: Error | undefined;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', (err) => (error = err));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, error }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('gateway upstream failures', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const stalled = new Set<ServerResponse>();

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      switch (req.url) {
        case '/never':
          stalled.add(res);
          return;
        case '/cut-with-length':
          res.writeHead(200, { 'content-length': 1024 * 1024 });
          res.write(Buffer.alloc(1024), () => res.socket?.destroy());
          return;
        case '/cut-chunked':
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.write(Buffer.alloc(1024), () => res.socket?.destroy());
          return;
        case '/stall-body':
          res.writeHead(200, { 'content-length': 1024 });
          res.write(Buffer.alloc(10));
          stalled.add(res);
          return;
        default:
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('ok');
      }
    });
    gateway = await startGateway({
      upstream: { url: upstream.url, headersTimeout: '300ms', bodyTimeout: '300ms' },
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  it('upstream down gives 502 problem', async () => {
    const port = await unusedPort();
    const down = await startGateway({ upstream: `http://127.0.0.1:${port}` });
    try {
      const reply = await send(down.url, '/orders');
      expect(reply.status).toBe(502);
      expect(reply.headers['content-type']).toBe('application/problem+json');
      const body = json(reply);
      expect(body.code).toBe('BWK_ERR_UPSTREAM_UNAVAILABLE');
      expect(body.status).toBe(502);
      expect(body.instance).toBe(`urn:uuid:${reply.headers['x-request-id']}`);

      const again = await send(down.url, '/orders');
      expect(again.status).toBe(502);
    } finally {
      await down.stop();
    }
  });

  it('recovers once upstream listens again', async () => {
    const port = await unusedPort();
    const waiting = await startGateway({ upstream: `http://127.0.0.1:${port}` });
    try {
      expect((await send(waiting.url, '/')).status).toBe(502);
      const late = await startUpstream((_req, res) => res.end('back'), port);
      try {
        const reply = await send(waiting.url, '/');
        expect(reply.status).toBe(200);
        expect(reply.text).toBe('back');
      } finally {
        await late.close();
      }
    } finally {
      await waiting.stop();
    }
  });

  it('upstream never answering gives 504', async () => {
    const reply = await send(gateway.url, '/never');
    expect(reply.status).toBe(504);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    expect(json(reply).code).toBe('BWK_ERR_UPSTREAM_TIMEOUT');
  });

  it.each(['/cut-with-length', '/cut-chunked'])(
    'upstream closing mid-body cuts %s',
    async (path) => {
      const reply = await readUntilCut(`${gateway.url}${path}`);
      expect(reply.status).toBe(200);
      expect(reply.bytes).toBeLessThan(1024 * 1024);
      expect(reply.error).toBeDefined();
    },
  );

  it('stalled upstream body is cut', async () => {
    const reply = await readUntilCut(`${gateway.url}/stall-body`);
    expect(reply.status).toBe(200);
    expect(reply.bytes).toBe(10);
    expect(reply.error).toBeDefined();
  });

  it('keeps serving after upstream failures', async () => {
    await send(gateway.url, '/never');
    await readUntilCut(`${gateway.url}/cut-chunked`);
    const reply = await send(gateway.url, '/fine');
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('ok');
  });
});
