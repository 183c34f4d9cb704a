import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { send } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis-server.js';
import {
  countResponses,
  degradedGauge,
  randomKeyPrefix,
  runClients,
  startGatewayPair,
  startRecordingUpstream,
  stopGateways,
  storeEventTypes,
  sumReports,
  waitFor,
  type GatewayInstance,
  type RecordingUpstream,
} from './harness.js';
import type { ClientPlan } from './client.js';

const DEGRADED = 'ratelimit.store_degraded';
const RECOVERED = 'ratelimit.store_recovered';

/** Two gateways on a Redis of the test's own, which the tests kill and restart. */
describe('two gateways when Redis fails', () => {
  let upstream: RecordingUpstream;
  let server: RedisServer;
  let dir: string;
  let gateways: GatewayInstance[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });

  afterAll(async () => {
    await upstream.close();
  });

  beforeEach(async () => {
    server = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'bulwark-distributed-'));
    upstream.arrivals.length = 0;
  });

  afterEach(async () => {
    const codes = await stopGateways(gateways);
    gateways = [];
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  });

  function start(
    limit: number,
    storage?: [Record<string, unknown>, Record<string, unknown>],
  ): Promise<GatewayInstance[]> {
    return startGatewayPair({
      dir,
      upstream: upstream.url,
      redis: server.url,
      keyPrefix: randomKeyPrefix('dist-failure'),
      storage,
      policy: { rateLimits: [{ name: 'per-ip', key: 'ip', limit, window: '1m' }] },
    });
  }

  function load(requests: number, concurrency: number, intervalMs?: number): ClientPlan {
    const targets = gateways.map((gateway) => gateway.url);
    return { targets, paths: ['/orders'], requests, concurrency, intervalMs };
  }

  async function waitForStoreEvents(expected: string[], gauge: number): Promise<void> {
    for (const gateway of gateways) {
      await waitFor(`${expected.join(', ')} from gateway ${gateway.name}`, () => {
        return storeEventTypes(gateway).length === expected.length;
      });
      expect(storeEventTypes(gateway)).toEqual(expected);
      await waitFor(`degraded gauge ${gauge} on gateway ${gateway.name}`, async () => {
        return (await degradedGauge(gateway)) === gauge;
      });
    }
  }

  it('fallback engages and recovers', async () => {
    gateways = await start(20);

    // Redis dies while the clients send; by then they have used up the shared limit.
    const sending = runClients([load(100, 1, 20), load(100, 1, 20), load(100, 1, 20)]);
    await waitFor('20 admitted requests', () => upstream.arrivals.length >= 20);
    await server.kill();
    const during = await sending;

    // Every request got a verdict: no connection failures and no 5xx.
    const verdicts =
      countResponses(during, { status: 200 }) + countResponses(during, { status: 429 });
    expect(verdicts).toBe(sumReports(during, 'sent'));
    expect(countResponses(during, { status: 200, limit: 20 })).toBe(20);
    // Each instance counts on its own with ceil(20 / 2) while Redis is down.
    for (const gateway of gateways) {
      expect(countResponses(during, { target: gateway.url, status: 200, limit: 10 })).toBe(10);
      expect(
        countResponses(during, { target: gateway.url, status: 429, limit: 10 }),
      ).toBeGreaterThan(0);
      expect((await send(gateway.url, '/_bulwark/health')).status).toBe(200);
      expect(gateway.cli.child.exitCode).toBeNull();
    }
    await waitForStoreEvents([DEGRADED], 1);

    await server.restart();
    await waitForStoreEvents([DEGRADED, RECOVERED], 0);
    const after = await runClients([load(15, 3), load(15, 3), load(15, 3), load(15, 3)]);

    // The restarted Redis is empty, and both instances share its limit again.
    expect(countResponses(after, { status: 200, limit: 20 })).toBe(20);
    expect(countResponses(after, { status: 429, limit: 20 })).toBe(40);
  });

  it('closed rejects, open admits, both recover', async () => {
    gateways = await start(5, [{ onRedisFailure: 'closed' }, { onRedisFailure: 'open' }]);
    const [closed, open] = gateways;
    const before = await runClients([load(10, 2), load(10, 2)]);
    expect(countResponses(before, { status: 200 })).toBe(5);

    await server.kill();
    await waitForStoreEvents([DEGRADED], 1);
    const during = await runClients([load(20, 2), load(20, 2)]);

    expect(countResponses(during, { target: closed!.url, status: 503 })).toBe(20);
    expect(countResponses(during, { target: open!.url, status: 200 })).toBe(20);
    // Only the closed instance rejected, each time with its fixed 1 s Retry-After.
    expect(during.map((report) => report.retryAfter)).toEqual([
      { min: 1, max: 1 },
      { min: 1, max: 1 },
    ]);

    await server.restart();
    await waitForStoreEvents([DEGRADED, RECOVERED], 0);
    const after = await runClients([load(10, 2), load(10, 2)]);

    expect(countResponses(after, { status: 200 })).toBe(5);
    expect(countResponses(after, { status: 429 })).toBe(15);
    expect(countResponses(after, { target: closed!.url, status: 200 })).toBeGreaterThan(0);
  });
});
