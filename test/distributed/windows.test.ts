import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  countResponses,
  deleteRateLimitKeys,
  gcraMaxInSpan,
  maxCertainlyInWindow,
  randomKeyPrefix,
  runClients,
  startGatewayPair,
  startRecordingUpstream,
  stopGateways,
  storeEventTypes,
  type GatewayInstance,
  type RecordingUpstream,
} from './harness.js';
import type { ClientPlan } from './client.js';

const REDIS = 'redis://127.0.0.1:6379/0';
const LIMIT = 20;
const WINDOW_MS = 2_000;
const BURST = 5;

/**
 * Four clients send to both gateways for 6 s, three windows long, so the limits refill while
 * the load lasts. Both routes run at once, on one pair of gateways and one key prefix.
 */
describe('admissions in any window', () => {
  let upstream: RecordingUpstream;
  let dir: string;
  let gateways: GatewayInstance[];
  const keyPrefix = randomKeyPrefix('dist-window');

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    dir = mkdtempSync(join(tmpdir(), 'bulwark-distributed-'));
    gateways = await startGatewayPair({
      dir,
      upstream: upstream.url,
      redis: REDIS,
      keyPrefix,
      policy: {
        routes: [
          {
            match: 'GET /log',
            rateLimits: [{ name: 'log', key: 'ip', limit: LIMIT, window: `${WINDOW_MS}ms` }],
          },
          {
            match: 'GET /gcra',
            rateLimits: [
              {
                name: 'gcra',
                algorithm: 'gcra',
                limit: LIMIT,
                window: `${WINDOW_MS}ms`,
                burst: BURST,
              },
            ],
          },
        ],
      },
    });
    const load = (path: string): ClientPlan => ({
      targets: gateways.map((gateway) => gateway.url),
      paths: [path],
      requests: 1_000,
      concurrency: 2,
      durationMs: 3 * WINDOW_MS,
      intervalMs: 10,
    });
    const reports = await runClients([load('/log'), load('/log'), load('/gcra'), load('/gcra')]);
    // Every request got a response, so the arrivals are all the admitted requests.
    expect(countResponses(reports, { status: 0 })).toBe(0);
    expect(countResponses(reports, { status: 200 })).toBe(upstream.arrivals.length);
  });

  afterAll(async () => {
    const codes = await stopGateways(gateways);
    for (const gateway of gateways) expect(storeEventTypes(gateway)).toEqual([]);
    await deleteRateLimitKeys(REDIS, keyPrefix);
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  });

  it('sliding window log never exceeds limit', () => {
    const admitted = upstream.arrivals.filter((arrival) => arrival.path === '/log');

    expect(maxCertainlyInWindow(admitted, WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
    // The full limit fits in one window, and later windows admitted again.
    expect(maxCertainlyInWindow(admitted, WINDOW_MS)).toBeGreaterThan(LIMIT / 2);
    expect(admitted.length).toBeGreaterThan(2 * LIMIT);
    expect(new Set(admitted.map((arrival) => arrival.gateway)).size).toBe(2);
  });

  it('GCRA stays within burst bound', () => {
    const admitted = upstream.arrivals.filter((arrival) => arrival.path === '/gcra');
    const interval = WINDOW_MS / LIMIT;

    for (const spanMs of [interval, BURST * interval, WINDOW_MS]) {
      expect(maxCertainlyInWindow(admitted, spanMs)).toBeLessThanOrEqual(
        gcraMaxInSpan(LIMIT, WINDOW_MS, BURST, spanMs),
      );
    }
    // 5 at once at most, and at most 24 in any 2 s: the burst plus 19 emission intervals.
    expect(gcraMaxInSpan(LIMIT, WINDOW_MS, BURST, interval)).toBe(BURST);
    expect(gcraMaxInSpan(LIMIT, WINDOW_MS, BURST, WINDOW_MS)).toBe(24);
    expect(admitted.length).toBeGreaterThan(2 * LIMIT);
    expect(new Set(admitted.map((arrival) => arrival.gateway)).size).toBe(2);
  });
});
