import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

describe('gateway admin endpoints', () => {
  let upstream: Upstream;
  let upstreamHits = 0;
  let gateway: Gateway;
  let closed: Gateway;
  let behindProxy: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      upstreamHits += 1;
      req.resume();
      res.end('upstream');
    });
    const routes = [
      { match: 'GET /orders', rateLimits: [{ name: 'orders', key: 'ip', limit: 1, window: '1m' }] },
    ];
    gateway = await startGateway({ upstream: upstream.url, routes });
    // Admin allowed only from a range that excludes the loopback client of these tests.
    closed = await startGateway({ upstream: upstream.url, admin: { allow: ['10.0.0.0/8'] } });
    // A reverse proxy on the same host: every TCP peer is 127.0.0.1, and trusted.
    behindProxy = await startGateway({ upstream: upstream.url, trustProxy: ['127.0.0.1'] });
  });

  afterAll(async () => {
    await gateway.stop();
    await closed.stop();
    await behindProxy.stop();
    await upstream.close();
  });

  it('health returns JSON status', async () => {
    const reply = await send(gateway.url, '/_bulwark/health');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    const body = json(reply);
    expect(body.status).toBe('ok');
    expect(body.rateLimitStore).toBe('memory');
    expect(typeof body.uptimeSeconds).toBe('number');
  });

  it('metrics count requests by route and verdict', async () => {
    expect((await send(gateway.url, '/orders')).status).toBe(200);
    expect((await send(gateway.url, '/orders')).status).toBe(429);

    const reply = await send(gateway.url, '/_bulwark/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    expect(reply.text).toContain(
      'bulwark_requests_total{route="GET /orders",verdict="forwarded"} 1',
    );
    expect(reply.text).toContain(
      'bulwark_requests_total{route="GET /orders",verdict="rejected"} 1',
    );
    expect(reply.text).toMatch(/bulwark_guard_duration_seconds_count\{guard="ratelimit"\} [1-9]/);
    expect(reply.text).toContain(
      'bulwark_security_events_total{type="ratelimit.exceeded",outcome="blocked"} 1',
    );
  });

  it('admin paths never reach upstream', async () => {
    const before = upstreamHits;
    await send(gateway.url, '/_bulwark/health');
    const unknown = await send(gateway.url, '/_bulwark/config');
    expect(unknown.status).toBe(404);
    expect(json(unknown).code).toBe('BWK_ERR_ADMIN_NOT_FOUND');
    expect(upstreamHits).toBe(before);
  });

  it.each(['/_bulwark/health', '/_bulwark/metrics', '/_bulwark'])(
    'non-allowed address gets 403 on %s',
    async (path) => {
      const before = upstreamHits;
      const reply = await send(closed.url, path);
      expect(reply.status).toBe(403);
      expect(reply.headers['content-type']).toBe('application/problem+json');
      expect(json(reply).code).toBe('BWK_ERR_ADMIN_FORBIDDEN');
      expect(reply.text).not.toContain('bulwark_requests_total');
      expect(upstreamHits).toBe(before);
    },
  );

  it('forwarded client behind proxy gets 403', async () => {
    const reply = await send(behindProxy.url, '/_bulwark/metrics', {
      headers: { 'x-forwarded-for': '203.0.113.5' },
    });
    expect(reply.status).toBe(403);
    expect(json(reply).code).toBe('BWK_ERR_ADMIN_FORBIDDEN');
  });

  it('local client behind proxy is allowed', async () => {
    const reply = await send(behindProxy.url, '/_bulwark/health');
    expect(reply.status).toBe(200);
    expect(json(reply).status).toBe('ok');
  });
});
