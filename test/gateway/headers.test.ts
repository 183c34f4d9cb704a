import { request, type IncomingHttpHeaders } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Hop-by-hop headers a client sends, each of which must stop at the gateway. */
const CLIENT_HOP_HEADERS = {
  connection: 'keep-alive, x-client-hop',
  'keep-alive': 'timeout=5',
  te: 'trailers',
  upgrade: 'h2c',
  'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
  'x-client-hop': 'for the gateway only',
};

describe('gateway headers', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  let trusting: Gateway;

  beforeAll(async () => {
    // The upstream echoes the headers it received, counts the body bytes and responds with
    // hop-by-hop headers of its own, two cookies and a header named in its Connection field.
    upstream = await startUpstream((req, res) => {
      let bodyBytes = 0;
      req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
      req.on('end', () => {
        res.setHeader('connection', 'keep-alive, x-upstream-hop');
        res.setHeader('keep-alive', 'timeout=30');
        res.setHeader('x-upstream-hop', 'for the gateway only');
        res.setHeader('proxy-authenticate', 'Basic realm="upstream"');
        res.setHeader('set-cookie', ['session=abc; HttpOnly', 'theme=dark; Path=/']);
        res.setHeader('x-upstream', 'kept');
        res.setHeader('x-body-bytes', String(bodyBytes));
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(req.headers));
      });
    });
    const rateLimits = [{ name: 'per-ip', key: 'ip', limit: 1000, window: '1m' }];
    gateway = await startGateway({ upstream: upstream.url, rateLimits });
    trusting = await startGateway({
      upstream: upstream.url,
      rateLimits,
      trustProxy: ['127.0.0.1'],
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await trusting.stop();
    await upstream.close();
  });

  async function echoed(target: Gateway, headers: Record<string, string> = {}) {
    const reply = await send(target.url, '/echo', { headers });
    expect(reply.status).toBe(200);
    return { reply, seen: json<IncomingHttpHeaders>(reply) };
  }

  it('hop-by-hop request headers are dropped', async () => {
    const { seen } = await echoed(gateway, { ...CLIENT_HOP_HEADERS, 'x-end-to-end': 'kept' });
    for (const name of Object.keys(CLIENT_HOP_HEADERS)) {
      if (name === 'connection') continue;
      expect(seen[name], name).toBeUndefined();
    }
    // The gateway's pooled connection to the upstream carries undici's own Connection field.
    expect(seen.connection).toBe('keep-alive');
    expect(seen['x-end-to-end']).toBe('kept');
  });

  it('hop-by-hop response headers are dropped', async () => {
    const { reply } = await echoed(gateway);
    expect(reply.headers['x-upstream-hop']).toBeUndefined();
    expect(reply.headers['proxy-authenticate']).toBeUndefined();
    expect(reply.headers['x-upstream']).toBe('kept');
    // The gateway's own connection to the client has its own keep-alive terms.
    expect(reply.headers['keep-alive']).not.toBe('timeout=30');
  });

  it('set-cookie array passes through', async () => {
    const { reply } = await echoed(gateway);
    expect(reply.headers['set-cookie']).toEqual(['session=abc; HttpOnly', 'theme=dark; Path=/']);
  });

  it('forwarded headers describe the client', async () => {
    const { seen } = await echoed(gateway);
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(new URL(gateway.url).host);
    expect(seen.host).toBe(new URL(upstream.url).host);
  });

  it('untrusted client forwarding chain is replaced', async () => {
    const { seen } = await echoed(gateway, {
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'spoofed.example',
    });
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(new URL(gateway.url).host);
  });

  it('trusted proxy forwarding chain is extended', async () => {
    const { seen } = await echoed(trusting, {
      'x-forwarded-for': '203.0.113.9, 198.51.100.4',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.example',
    });
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 198.51.100.4, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe('api.example');
  });

  it('request id generated and sent both ways', async () => {
    const { reply, seen } = await echoed(gateway);
    const id = reply.headers['x-request-id'];
    expect(id).toMatch(UUID);
    expect(seen['x-request-id']).toBe(id);
  });

  it('valid client request id is kept', async () => {
    const { reply, seen } = await echoed(gateway, { 'x-request-id': 'checkout-42.retry:1' });
    expect(reply.headers['x-request-id']).toBe('checkout-42.retry:1');
    expect(seen['x-request-id']).toBe('checkout-42.retry:1');
  });

  it('traceparent trace id becomes request id', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { reply, seen } = await echoed(gateway, {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      'x-request-id': 'ignored-when-traceparent-is-valid',
    });
    expect(reply.headers['x-request-id']).toBe(traceId);
    expect(seen['x-request-id']).toBe(traceId);
    expect(seen.traceparent).toBe(`00-${traceId}-00f067aa0ba902b7-01`);
  });

  it.each([
    ['spaces', 'not a valid id'],
    ['markup', '<script>alert(1)</script>'],
    ['too long', 'a'.repeat(129)],
  ])('malformed request id replaced: %s', async (_case, value) => {
    const { reply, seen } = await echoed(gateway, {
      'x-request-id': value,
      traceparent: '00-nothex-00f067aa0ba902b7-01',
    });
    expect(reply.headers['x-request-id']).toMatch(UUID);
    expect(seen['x-request-id']).toBe(reply.headers['x-request-id']);
  });

  it('ratelimit headers added to forwarded response', async () => {
    const { reply, seen } = await echoed(gateway);
    expect(reply.headers['ratelimit-policy']).toBe('"per-ip";q=1000;w=60');
    expect(reply.headers['ratelimit']).toMatch(/^"per-ip";r=\d+;t=\d+$/);
    expect(reply.headers['x-ratelimit-limit']).toBe('1000');
    expect(reply.headers['x-ratelimit-remaining']).toMatch(/^\d+$/);
    // Rate-limit headers are for the client; the upstream does not receive them.
    expect(seen['ratelimit']).toBeUndefined();
  });

  it('expect 100-continue body is forwarded', async () => {
    const body = Buffer.alloc(4096, 'x');
    const reply = await new Promise<{ status: number; bytes: string; seen: IncomingHttpHeaders }>(
      (resolve, reject) => {
        const req = request(
          `${gateway.url}/upload`,
          {
            method: 'POST',
            agent: false,
            headers: { expect: '100-continue', 'content-length': body.length },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                bytes: String(res.headers['x-body-bytes']),
                seen: JSON.parse(text) as IncomingHttpHeaders,
              }),
            );
          },
        );
        req.on('error', reject);
        // The body follows only once the gateway has sent 100 Continue.
        req.on('continue', () => req.end(body));
      },
    );
    expect(reply.status).toBe(200);
    expect(reply.bytes).toBe(String(body.length));
    expect(reply.seen.expect).toBeUndefined();
  });
});
