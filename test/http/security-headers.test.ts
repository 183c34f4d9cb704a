import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { ConfigInput } from '../../src/core/config.js';
import { validateConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { unusedPort } from '../helpers/upstream.js';
import {
  ADAPTERS,
  startAdapterApp,
  startRecordingUpstream,
  type AdapterApp,
  type RecordingUpstream,
} from './hardening-harness.js';

const STRICT_CSP = "default-src 'none'; frame-ancestors 'none'";
const HSTS = 'max-age=31536000; includeSubDomains';

describe('gateway security headers', () => {
  let upstream: RecordingUpstream;
  const gateways: Gateway[] = [];

  beforeAll(async () => {
    // The upstream sets its own framing policy, which the gateway keeps unless configured to override it.
    upstream = await startRecordingUpstream({ 'x-frame-options': 'SAMEORIGIN' });
  });

  afterAll(async () => {
    await upstream.close();
  });

  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.stop();
  });

  async function gatewayWith(input: Partial<ConfigInput>): Promise<Gateway> {
    const gateway = await startGateway({ upstream: upstream.url, ...input });
    gateways.push(gateway);
    return gateway;
  }

  it('defaults added, upstream value kept', async () => {
    const gateway = await gatewayWith({});
    const reply = await send(gateway.url, '/orders');

    expect(reply.status).toBe(200);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['referrer-policy']).toBe('no-referrer');
    expect(reply.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(reply.headers['content-security-policy']).toBeUndefined();
    // Plain HTTP from an untrusted peer: HSTS would be ignored, and RFC 6797 forbids it.
    expect(reply.headers['strict-transport-security']).toBeUndefined();
  });

  it('override replaces upstream value', async () => {
    const gateway = await gatewayWith({ securityHeaders: { override: true } });
    const reply = await send(gateway.url, '/orders');

    expect(reply.headers['x-frame-options']).toBe('DENY');
  });

  it('HSTS only behind trusted HTTPS proxy', async () => {
    const gateway = await gatewayWith({ trustProxy: ['127.0.0.1'] });
    const https = await send(gateway.url, '/', { headers: { 'x-forwarded-proto': 'https' } });
    const mixed = await send(gateway.url, '/', {
      headers: { 'x-forwarded-proto': 'https, http' },
    });
    const plain = await send(gateway.url, '/');

    expect(https.headers['strict-transport-security']).toBe(HSTS);
    expect(mixed.headers['strict-transport-security']).toBeUndefined();
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });

  it('untrusted peer cannot claim HTTPS', async () => {
    const gateway = await gatewayWith({});
    const reply = await send(gateway.url, '/', { headers: { 'x-forwarded-proto': 'https' } });

    expect(reply.headers['strict-transport-security']).toBeUndefined();
  });

  it('HSTS always when configured so', async () => {
    const gateway = await gatewayWith({
      securityHeaders: {
        strictTransportSecurity: { maxAge: '730d', preload: true, onlyOverHttps: false },
      },
    });
    const reply = await send(gateway.url, '/');

    expect(reply.headers['strict-transport-security']).toBe(
      'max-age=63072000; includeSubDomains; preload',
    );
  });

  it('route settings replace global ones', async () => {
    const gateway = await gatewayWith({
      securityHeaders: { custom: { 'Permissions-Policy': 'geolocation=()' } },
      routes: [
        { match: 'GET /raw', securityHeaders: false },
        {
          match: 'GET /docs',
          securityHeaders: { override: true, contentSecurityPolicy: "default-src 'self'" },
        },
      ],
    });
    const raw = await send(gateway.url, '/raw');
    const docs = await send(gateway.url, '/docs');

    expect(raw.headers['x-content-type-options']).toBeUndefined();
    expect(raw.headers['permissions-policy']).toBeUndefined();
    expect(docs.headers['content-security-policy']).toBe("default-src 'self'");
    expect(docs.headers['permissions-policy']).toBe('geolocation=()');
    expect(docs.headers['x-frame-options']).toBe('DENY');
  });

  it('rejections get strict CSP and defaults', async () => {
    const gateway = await gatewayWith({
      securityHeaders: { contentSecurityPolicy: "default-src 'self'" },
      rateLimits: [{ name: 'one', key: 'ip', limit: 1, window: '1m' }],
    });
    await send(gateway.url, '/');
    const reply = await send(gateway.url, '/');

    expect(reply.status).toBe(429);
    expect(reply.headers['content-security-policy']).toBe(STRICT_CSP);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['x-frame-options']).toBe('DENY');
    expect(reply.headers['referrer-policy']).toBe('no-referrer');
  });

  it('admin responses get strict CSP', async () => {
    const gateway = await gatewayWith({});
    const reply = await send(gateway.url, '/_bulwark/health');

    expect(reply.status).toBe(200);
    expect(reply.headers['content-security-policy']).toBe(STRICT_CSP);
    expect(reply.headers['x-frame-options']).toBe('DENY');
  });

  it('upstream failure problem gets headers', async () => {
    const gateway = await startGateway({ upstream: `http://127.0.0.1:${await unusedPort()}` });
    gateways.push(gateway);
    const reply = await send(gateway.url, '/');

    expect(reply.status).toBe(502);
    expect(reply.headers['content-security-policy']).toBe(STRICT_CSP);
    expect(reply.headers['referrer-policy']).toBe('no-referrer');
  });
});

describe('security headers configuration', () => {
  it('preload without subdomains rejected', () => {
    const attempt = () =>
      validateConfig({
        upstream: 'http://127.0.0.1:1',
        securityHeaders: { strictTransportSecurity: { preload: true, includeSubDomains: false } },
      });

    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      expect((error as ConfigError).issues.map((issue) => [issue.path, issue.code])).toEqual([
        ['securityHeaders.strictTransportSecurity.preload', 'BWK_ERR_CONFIG_HSTS'],
      ]);
    }
  });

  it('header value with line break rejected', () => {
    const attempt = () =>
      validateConfig({
        upstream: 'http://127.0.0.1:1',
        securityHeaders: { custom: { 'X-Test': 'a\r\nSet-Cookie: x=1' } },
      });

    expect(attempt).toThrow(/securityHeaders\.custom\.X-Test/);
  });
});

describe.each(ADAPTERS)('%s adapter security headers', (kind) => {
  let app: AdapterApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('defaults set, application value wins', async () => {
    app = await startAdapterApp(kind, {
      rateLimits: [{ name: 'one', key: 'ip', limit: 2, window: '1m' }],
    });
    const plain = await send(app.url, '/');
    const own = await send(app.url, '/', { headers: { 'x-app-frame-options': '1' } });
    const rejected = await send(app.url, '/');

    expect(plain.headers['x-content-type-options']).toBe('nosniff');
    expect(plain.headers['x-frame-options']).toBe('DENY');
    expect(plain.headers['referrer-policy']).toBe('no-referrer');
    expect(own.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(rejected.status).toBe(429);
    expect(rejected.headers['content-security-policy']).toBe(STRICT_CSP);
    expect(rejected.headers['x-frame-options']).toBe('DENY');
  });
});
