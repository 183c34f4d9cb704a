import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { send } from '../helpers/http.js';
import {
  countResponses,
  deleteRateLimitKeys,
  randomKeyPrefix,
  readEvents,
  runClients,
  startGatewayPair,
  startRecordingUpstream,
  stopGateways,
  storeEventTypes,
  sumReports,
  type GatewayInstance,
  type RecordingUpstream,
} from './harness.js';

const REDIS = 'redis://127.0.0.1:6379/0';

/** Two gateways on the machine's Redis; every check here is decided by Redis. */
describe('limits shared by two gateways', () => {
  let upstream: RecordingUpstream;
  let dir: string;
  let keyPrefix: string;
  let gateways: GatewayInstance[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });

  afterAll(async () => {
    await upstream.close();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-distributed-'));
    keyPrefix = randomKeyPrefix('dist');
    upstream.arrivals.length = 0;
  });

  afterEach(async () => {
    const codes = await stopGateways(gateways);
    // A degradation would mean a local fallback made some decisions, and totals are not exact.
    for (const gateway of gateways) expect(storeEventTypes(gateway)).toEqual([]);
    gateways = [];
    await deleteRateLimitKeys(REDIS, keyPrefix);
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  });

  function start(policy: Record<string, unknown>): Promise<GatewayInstance[]> {
    return startGatewayPair({ dir, upstream: upstream.url, redis: REDIS, keyPrefix, policy });
  }

  it('admits exactly the limit in total', async () => {
    gateways = await start({
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 100, window: '1m' }],
    });
    const [a, b] = gateways;
    const plan = { targets: [a!.url, b!.url], paths: ['/orders'], requests: 60, concurrency: 4 };

    const reports = await runClients([plan, plan, plan, plan]);

    expect(sumReports(reports, 'sent')).toBe(240);
    expect(countResponses(reports, { status: 200 })).toBe(100);
    expect(countResponses(reports, { status: 429 })).toBe(140);
    expect(upstream.arrivals).toHaveLength(100);
    // Both gateways admitted and rejected some, so neither decided alone.
    for (const gateway of gateways) {
      expect(countResponses(reports, { target: gateway.url, status: 200 })).toBeGreaterThan(0);
      expect(countResponses(reports, { target: gateway.url, status: 429 })).toBeGreaterThan(0);
    }
    expect(sumReports(reports, 'rejectedWithoutHeaders')).toBe(0);
    // A client that ran ahead of the others may have got only 200s (60 < 100), so only
    // clients that saw a 429 report a Retry-After range.
    const ranges = reports.flatMap((report) => (report.retryAfter ? [report.retryAfter] : []));
    expect(ranges.length).toBeGreaterThan(0);
    for (const range of ranges) {
      expect(range.min).toBeGreaterThanOrEqual(1);
      expect(range.max).toBeLessThanOrEqual(60);
    }
  });

  it('blockFor on A blocks on B', async () => {
    gateways = await start({
      routes: [
        {
          match: 'POST /login',
          rateLimits: [{ name: 'login', key: 'ip', limit: 3, window: '1m', blockFor: '10m' }],
        },
        {
          match: 'POST /search',
          rateLimits: [{ name: 'search', key: 'ip', limit: 3, window: '1m' }],
        },
      ],
    });
    const [a, b] = gateways;
    const onA = { targets: [a!.url], paths: ['/login', '/search'], requests: 10, concurrency: 1 };

    const reports = await runClients([
      { ...onA, method: 'POST' },
      { ...onA, method: 'POST' },
    ]);
    const login = await send(b!.url, '/login', { method: 'POST' });
    const search = await send(b!.url, '/search', { method: 'POST' });

    expect(countResponses(reports, { path: '/login', status: 200 })).toBe(3);
    expect(countResponses(reports, { path: '/search', status: 200 })).toBe(3);
    expect(login.status).toBe(429);
    // Only the 10-minute block, set by a rejection on A, can ask for more than the window.
    expect(Number(login.headers['retry-after'])).toBeGreaterThan(60);
    expect(Number(login.headers['retry-after'])).toBeLessThanOrEqual(600);
    expect(search.status).toBe(429);
    expect(Number(search.headers['retry-after'])).toBeLessThanOrEqual(60);
    const blocked = readEvents(b!).filter((event) => event.type === 'ratelimit.exceeded');
    expect(blocked.map((event) => (event.details as { blocked: boolean }).blocked)).toContain(true);
  });

  it('rejection consumes no other quota', async () => {
    gateways = await start({
      // The clients claim addresses through X-Forwarded-For, which only a trusted peer may set.
      trustProxy: ['127.0.0.1/32'],
      routes: [
        {
          match: 'GET /orders',
          rateLimits: [
            { name: 'per-client', key: 'ip', limit: 5, window: '1m' },
            { name: 'per-route', key: 'route', limit: 50, window: '1h' },
          ],
        },
      ],
    });
    const [a, b] = gateways;
    const plan = {
      targets: [a!.url, b!.url],
      paths: ['/orders'],
      requests: 10,
      concurrency: 2,
      headers: { 'x-forwarded-for': '203.0.113.7' },
    };

    const reports = await runClients([plan, plan, plan, plan]);
    const other = await send(b!.url, '/orders', { headers: { 'x-forwarded-for': '198.51.100.9' } });

    expect(countResponses(reports, { status: 200 })).toBe(5);
    expect(countResponses(reports, { status: 429 })).toBe(35);
    // 5 admitted plus this request leave 44 of 50; had the 35 rejections counted, 9 would.
    expect(other.status).toBe(200);
    expect(other.headers['ratelimit']).toMatch(/^"per-client";r=4;t=\d+, "per-route";r=44;t=\d+$/);
    expect(upstream.arrivals).toHaveLength(6);
  });
});
