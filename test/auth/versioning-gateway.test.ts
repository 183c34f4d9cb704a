import type { IncomingHttpHeaders } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { AUDIENCE, createSigner, ISSUER, sign, type Signer } from './tokens.js';

const MIGRATION = 'https://example.com/docs/migrate-v2';
const V1_HEADERS = {
  deprecation: '@1780272000',
  sunset: 'Sun, 31 Jan 2027 00:00:00 GMT',
  link: `<${MIGRATION}>; rel="deprecation", <${MIGRATION}>; rel="sunset"`,
};

/** What the upstream received: the request target and headers, in the order requests came. */
const received: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
const events: SecurityEvent[] = [];
let upstream: Upstream;
let gateway: Gateway;
let signer: Signer;

beforeAll(async () => {
  signer = await createSigner('ES256', 'v-1');
  upstream = await startUpstream((req, res) => {
    received.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (req.headers['x-test-link']) headers['link'] = '<https://example.com/next>; rel="next"';
      res.writeHead(200, headers).end('{"ok":true}');
    });
  });
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      auth: {
        jwt: {
          issuers: [
            {
              issuer: ISSUER,
              audience: AUDIENCE,
              algorithms: ['ES256'],
              publicKeys: [{ pem: signer.publicPem, alg: 'ES256' }],
            },
          ],
        },
      },
      versioning: {
        from: ['path', 'header', 'mediaType'],
        vendor: 'acme',
        default: '2',
        versions: [
          {
            name: '1',
            status: 'deprecated',
            deprecatedAt: '2026-06-01T00:00:00Z',
            sunset: '2027-01-31T00:00:00Z',
            link: MIGRATION,
            auth: { methods: ['jwt'], scopes: { all: ['orders:read'] } },
            rateLimits: [{ name: 'v1-cap', key: 'header:X-Client', limit: 3, window: '1m' }],
          },
          { name: '2' },
          { name: '0', status: 'retired', sunset: '2025-01-01', link: MIGRATION },
        ],
      },
      // A route's auth replaces field by field, so a public route clears the version's scopes.
      routes: [
        { match: 'GET /orders' },
        { match: 'GET,HEAD /public', auth: { methods: ['anonymous'], scopes: {} } },
        { match: 'GET /status', auth: { methods: ['anonymous'], scopes: {} } },
      ],
    },
    { bus },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
});

function call(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return send(gateway.url, path, { headers });
}

async function reader(): Promise<Record<string, string>> {
  const token = await sign(signer, { sub: 'reader', scope: 'orders:read' });
  return { authorization: `Bearer ${token}` };
}

function lifecycleOf(reply: Reply): Record<string, unknown> {
  return {
    deprecation: reply.headers['deprecation'],
    sunset: reply.headers['sunset'],
    link: reply.headers['link'],
  };
}

describe('versioned requests through the gateway', () => {
  it('upstream receives the original path and the version', async () => {
    const reply = await call('/v2/orders?limit=5');

    expect(reply.status).toBe(200);
    expect(received.at(-1)?.url).toBe('/v2/orders?limit=5');
    expect(received.at(-1)?.headers['x-api-version']).toBe('2');
    expect(reply.headers['deprecation']).toBeUndefined();
  });

  it('header and media type select the version', async () => {
    await call('/orders', { ...(await reader()), 'api-version': '1' });
    expect(received.at(-1)?.headers['x-api-version']).toBe('1');

    await call('/orders', { ...(await reader()), accept: 'application/vnd.acme.v1+json' });
    expect(received.at(-1)?.headers['x-api-version']).toBe('1');
  });

  it('default version applies without one', async () => {
    const reply = await call('/orders');

    expect(reply.status).toBe(200);
    expect(received.at(-1)?.headers['x-api-version']).toBe('2');
  });

  it('client copy of the version header is replaced', async () => {
    await call('/orders', { 'x-api-version': '1' });

    expect(received.at(-1)?.headers['x-api-version']).toBe('2');
  });

  it('deprecated version carries lifecycle headers', async () => {
    const reply = await call('/v1/orders', await reader());

    expect(reply.status).toBe(200);
    expect(lifecycleOf(reply)).toEqual(V1_HEADERS);
    expect(received.at(-1)?.url).toBe('/v1/orders');
  });

  it('lifecycle headers are on rejections too', async () => {
    const reply = await call('/v1/orders');

    expect(reply.status).toBe(401);
    expect(lifecycleOf(reply)).toEqual(V1_HEADERS);
  });

  it('upstream links are kept beside the deprecation link', async () => {
    const reply = await call('/v1/public', { 'x-test-link': 'yes' });

    expect(reply.status).toBe(200);
    expect(reply.headers['link']).toBe(
      `<https://example.com/next>; rel="next", ${V1_HEADERS.link}`,
    );
  });
});

describe('per-version policy', () => {
  it('version auth replaces the global default', async () => {
    const noScope = await sign(signer, { sub: 'someone', scope: 'profile' });

    expect((await call('/v1/orders')).status).toBe(401);
    expect((await call('/v1/orders', { authorization: `Bearer ${noScope}` })).status).toBe(403);
    expect((await call('/v1/orders', await reader())).status).toBe(200);
    expect((await call('/v2/orders')).status).toBe(200);
  });

  it('route auth wins over version auth', async () => {
    expect((await call('/v1/public')).status).toBe(200);
  });

  it('version auth covers unmatched paths', async () => {
    expect((await call('/v1/not-a-route')).status).toBe(401);
    expect((await call('/v2/not-a-route')).status).toBe(200);
  });

  it('version limits count per version across routes', async () => {
    const client = { 'x-client': 'limits-a' };
    const statuses = [];
    for (const path of ['/v1/public', '/v1/public', '/v1/status', '/v1/public']) {
      statuses.push((await call(path, client)).status);
    }
    const limited = await call('/v1/public', client);

    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(json(limited).policy).toBe('v1-cap');
    expect(lifecycleOf(limited)).toEqual(V1_HEADERS);
    expect((await call('/v2/public', client)).status).toBe(200);
  });
});

describe('rejected versions', () => {
  it('retired version gets 410', async () => {
    const before = received.length;
    const reply = await call('/v0/orders');

    expect(reply.status).toBe(410);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    expect(reply.headers['sunset']).toBe('Wed, 01 Jan 2025 00:00:00 GMT');
    expect(reply.headers['link']).toBe(
      `<${MIGRATION}>; rel="deprecation", <${MIGRATION}>; rel="sunset"`,
    );
    expect(json(reply)).toMatchObject({
      status: 410,
      code: 'BWK_ERR_VERSION_RETIRED',
      detail: 'API version 0 was retired on 2025-01-01; use version 2.',
      version: '0',
      successor: '2',
      supportedVersions: ['1', '2'],
    });
    expect(received.length).toBe(before);
    expect(events.find((event) => event.type === 'version.retired')).toMatchObject({
      category: 'authorization',
      severity: 'low',
      outcome: 'blocked',
      target: { path: '/v0/orders', route: 'GET /orders' },
      details: { version: '0', successor: '2' },
    });
  });

  it.each([
    ['/v9/orders', {}, 404],
    ['/orders', { 'api-version': '7' }, 400],
    ['/orders', { accept: 'application/vnd.acme.v7+json' }, 406],
  ] as const)('unknown version %s %j gets %i', async (path, headers, status) => {
    const reply = await call(path, headers);

    expect(reply.status).toBe(status);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_VERSION_UNKNOWN',
      supportedVersions: ['1', '2'],
    });
  });

  it('conflicting versions get 400', async () => {
    const reply = await call('/v1/orders', { 'api-version': '2' });

    expect(reply.status).toBe(400);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_VERSION_CONFLICT',
      sources: ['path', 'header'],
    });
  });
});
