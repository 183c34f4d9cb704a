import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { PolicyInput } from '../../src/core/config.js';
import { validateConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { OriginMatcher, parseOriginPattern } from '../../src/http/origin-pattern.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import {
  ADAPTERS,
  startAdapterApp,
  startRecordingUpstream,
  type AdapterApp,
  type RecordingUpstream,
} from './hardening-harness.js';

describe('origin patterns', () => {
  const matcher = new OriginMatcher(
    ['https://app.example.com', 'https://*.example.org', 'http://localhost:*'].map(
      parseOriginPattern,
    ),
  );

  it.each([
    ['exact origin', 'https://app.example.com', true],
    ['exact origin, other scheme', 'http://app.example.com', false],
    ['exact origin, other port', 'https://app.example.com:8443', false],
    ['exact origin as a suffix', 'https://evilapp.example.com', false],
    ['subdomain', 'https://api.example.org', true],
    ['nested subdomain', 'https://a.b.example.org', true],
    ['bare domain of a pattern', 'https://example.org', false],
    ['lookalike domain', 'https://evil-example.org', false],
    ['pattern domain inside another', 'https://api.example.org.evil.com', false],
    ['pattern with other scheme', 'http://api.example.org', false],
    ['pattern with a port', 'https://api.example.org:8443', false],
    ['any port', 'http://localhost:3000', true],
    ['any port, none given', 'http://localhost', true],
    ['null origin', 'null', false],
    ['origin with path', 'https://api.example.org/x', false],
    ['origin with user', 'https://x@api.example.org', false],
    ['upper case', 'https://API.example.org', false],
  ])('%s', (_title, origin, allowed) => {
    expect(matcher.matches(origin)).toBe(allowed);
  });

  it.each([
    ['null', 'null'],
    ['wildcard inside a label', 'https://ex*.com'],
    ['wildcard for a top-level domain', 'https://*.com'],
    ['trailing slash', 'https://a.example.com/'],
    ['path', 'https://a.example.com/app'],
    ['upper case', 'https://A.example.com'],
    ['default port', 'https://a.example.com:443'],
    ['no scheme', 'a.example.com'],
    ['regex syntax', 'https://a.example.(com|org)'],
    ['wildcard scheme', '*://a.example.com'],
  ])('rejects %s', (_title, entry) => {
    expect(() => parseOriginPattern(entry)).toThrow();
  });
});

function configIssues(input: PolicyInput): Array<[string, string]> {
  try {
    validateConfig({ upstream: 'http://127.0.0.1:1', ...input });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) => [issue.path, issue.code]);
  }
  return [];
}

describe('CORS configuration', () => {
  it('any origin with credentials rejected', () => {
    expect(configIssues({ cors: { origins: '*', credentials: true } })).toEqual([
      ['cors.origins', 'BWK_ERR_CONFIG_CORS'],
    ]);
  });

  it('route merge with credentials rejected', () => {
    const issues = configIssues({
      cors: { origins: ['https://app.example.com'], credentials: true },
      routes: [{ match: 'GET /public', cors: { origins: '*' } }],
    });

    expect(issues).toEqual([['routes.0.cors.origins', 'BWK_ERR_CONFIG_CORS']]);
  });

  it('wildcard headers with credentials rejected', () => {
    const issues = configIssues({
      cors: { origins: ['https://a.example.com'], credentials: true, allowHeaders: ['*'] },
    });

    expect(issues).toEqual([['cors.allowHeaders', 'BWK_ERR_CONFIG_CORS']]);
  });

  it('invalid origin named with its path', () => {
    const issues = configIssues({ cors: { origins: ['https://ok.example.com', 'https://*.com'] } });

    expect(issues).toEqual([['cors.origins.1', 'BWK_ERR_CONFIG_CORS']]);
  });

  it('route CORS without origins rejected', () => {
    const issues = configIssues({ routes: [{ match: 'GET /x', cors: { credentials: false } }] });

    expect(issues).toEqual([['routes.0.cors.origins', 'BWK_ERR_CONFIG_CORS']]);
  });

  it('method list without OPTIONS rejected', () => {
    const issues = configIssues({
      cors: { origins: ['https://a.example.com'] },
      requestTarget: { methods: ['GET', 'POST'] },
    });

    expect(issues).toEqual([['requestTarget.methods', 'BWK_ERR_CONFIG_CORS']]);
  });

  it('lower-case method rejected', () => {
    const issues = configIssues({ cors: { origins: ['https://a.example.com'], methods: ['put'] } });

    expect(issues).toEqual([['cors.methods.0', 'BWK_ERR_CONFIG_VALUE']]);
  });
});

const APP = 'https://app.example.com';

const corsPolicy: PolicyInput = {
  cors: {
    origins: [APP, 'https://*.example.org'],
    methods: ['GET', 'POST', 'PUT'],
    allowHeaders: ['Content-Type', 'Authorization'],
    exposeHeaders: ['X-Total-Count'],
    credentials: true,
    maxAge: '1h',
  },
  routes: [
    { match: 'GET /public', cors: { origins: '*', credentials: false } },
    { match: 'GET /internal', cors: false },
    { match: 'DELETE /orders/:id', cors: { methods: ['DELETE'] } },
    { match: 'POST /strict', cors: { rejectDisallowed: true } },
  ],
};

describe('gateway CORS', () => {
  let upstream: RecordingUpstream;
  let gateway: Gateway;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    // An upstream with its own permissive CORS, which the gateway's policy must not widen.
    upstream = await startRecordingUpstream({
      'access-control-allow-origin': '*',
      vary: 'Accept-Encoding',
    });
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway({ upstream: upstream.url, ...corsPolicy }, { bus });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  function preflight(path: string, origin: string, method: string, headers?: string) {
    return send(gateway.url, path, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        ...(headers === undefined ? {} : { 'access-control-request-headers': headers }),
      },
    });
  }

  it('allowed preflight answered by gateway', async () => {
    const before = upstream.received.length;
    const reply = await preflight('/orders', APP, 'PUT', 'content-type, authorization');

    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe(APP);
    expect(reply.headers['access-control-allow-credentials']).toBe('true');
    expect(reply.headers['access-control-allow-methods']).toBe('GET, POST, PUT');
    expect(reply.headers['access-control-allow-headers']).toBe('Content-Type, Authorization');
    expect(reply.headers['access-control-max-age']).toBe('3600');
    expect(reply.headers.vary).toBe(
      'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    );
    expect(reply.headers['content-length']).toBeUndefined();
    expect(reply.headers['x-request-id']).toBeDefined();
    expect(reply.text).toBe('');
    expect(upstream.received.length).toBe(before);
  });

  it('pattern origin allowed', async () => {
    const reply = await preflight('/orders', 'https://a.b.example.org', 'POST');

    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe('https://a.b.example.org');
  });

  it.each([
    ['origin', 'https://evil.example.com', 'GET', undefined, 'origin_not_allowed'],
    ['bare pattern domain', 'https://example.org', 'GET', undefined, 'origin_not_allowed'],
    ['method', APP, 'PATCH', undefined, 'method_not_allowed'],
    ['header', APP, 'POST', 'content-type, x-secret', 'header_not_allowed'],
  ])('preflight with disallowed %s rejected', async (_title, origin, method, headers, reason) => {
    const before = upstream.received.length;
    const reply = await preflight('/orders', origin, method, headers);

    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.text)).toMatchObject({ code: 'BWK_ERR_CORS_REJECTED', reason });
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(reply.headers['access-control-allow-methods']).toBeUndefined();
    expect(upstream.received.length).toBe(before);
  });

  it('preflight uses requested method route', async () => {
    const allowed = await preflight('/orders/7', APP, 'DELETE');
    const elsewhere = await preflight('/orders', APP, 'DELETE');

    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-methods']).toBe('DELETE');
    expect(elsewhere.status).toBe(403);
  });

  it('allowed origin gets CORS headers', async () => {
    const reply = await send(gateway.url, '/orders', { headers: { origin: APP } });

    expect(reply.status).toBe(200);
    expect(reply.headers['access-control-allow-origin']).toBe(APP);
    expect(reply.headers['access-control-allow-credentials']).toBe('true');
    expect(reply.headers['access-control-expose-headers']).toBe('X-Total-Count');
    expect(reply.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('disallowed origin gets no CORS headers', async () => {
    const reply = await send(gateway.url, '/orders', {
      headers: { origin: 'https://evil.example.com' },
    });

    expect(reply.status).toBe(200);
    // The upstream's own `*` is dropped as well.
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(reply.headers['access-control-allow-credentials']).toBeUndefined();
    expect(reply.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('request without origin varies on origin', async () => {
    const reply = await send(gateway.url, '/orders');

    expect(reply.headers.vary).toBe('Accept-Encoding, Origin');
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('route any origin without credentials', async () => {
    const reply = await send(gateway.url, '/public', {
      headers: { origin: 'https://anyone.example.net' },
    });

    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('route without CORS left to upstream', async () => {
    const reply = await send(gateway.url, '/internal', { headers: { origin: APP } });
    const preflightReply = await preflight('/internal', APP, 'GET');

    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers.vary).toBe('Accept-Encoding');
    // The upstream responds to this preflight itself.
    expect(preflightReply.status).toBe(200);
    expect(upstream.received.at(-1)?.method).toBe('OPTIONS');
  });

  it('rejectDisallowed answers 403 with event', async () => {
    events.length = 0;
    const before = upstream.received.length;
    const rejected = await send(gateway.url, '/strict', {
      method: 'POST',
      headers: { origin: 'https://evil.example.com' },
    });
    const allowed = await send(gateway.url, '/strict', {
      method: 'POST',
      headers: { origin: APP },
    });

    expect(rejected.status).toBe(403);
    expect(rejected.headers.vary).toBe('Origin');
    expect(rejected.headers['access-control-allow-origin']).toBeUndefined();
    expect(allowed.status).toBe(200);
    expect(upstream.received.length).toBe(before + 1);
    expect(events.map((event) => [event.type, event.details])).toEqual([
      ['http.cors_rejected', { reason: 'origin_not_allowed', preflight: false }],
    ]);
  });
});

describe.each(ADAPTERS)('%s adapter CORS', (kind) => {
  let app: AdapterApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('preflight answered, actual request annotated', async () => {
    app = await startAdapterApp(kind, corsPolicy);
    const answered = await send(app.url, '/orders', {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'PUT' },
    });
    const refused = await send(app.url, '/orders', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'PUT' },
    });
    const actual = await send(app.url, '/orders', { headers: { origin: APP } });

    expect(answered.status).toBe(204);
    expect(answered.headers['access-control-allow-origin']).toBe(APP);
    expect(answered.headers['access-control-max-age']).toBe('3600');
    expect(refused.status).toBe(403);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(actual.status).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe(APP);
    expect(actual.headers.vary).toBe('Origin');
    expect(app.received.map((request) => request.method)).toEqual(['GET']);
  });
});
