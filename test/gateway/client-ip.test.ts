import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

const LIMIT = 3;
const rateLimits = [{ name: 'per-ip', key: 'ip', limit: LIMIT, window: '1m' }];

/** Sends `count` requests with the given X-Forwarded-For and returns their statuses. */
async function statuses(gateway: Gateway, forwardedFor: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await send(gateway.url, '/orders', {
      headers: { 'x-forwarded-for': forwardedFor },
    });
    out.push(reply.status);
  }
  return out;
}

describe('gateway client IP in rate limiting', () => {
  let upstream: Upstream;
  let gateway: Gateway | undefined;

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
  });

  afterAll(async () => {
    await upstream.close();
  });

  it('spoofed forwarded-for ignored without trusted proxies', async () => {
    gateway = await startGateway({ upstream: upstream.url, rateLimits, trustProxy: [] });
    expect(await statuses(gateway, '198.51.100.1', LIMIT)).toEqual([200, 200, 200]);
    // A new made-up address per request does not buy a new quota: the key is the TCP peer.
    expect(await statuses(gateway, '198.51.100.2', 1)).toEqual([429]);
    expect(await statuses(gateway, '203.0.113.77', 1)).toEqual([429]);
  });

  it('forwarded clients get separate quotas behind trusted proxy', async () => {
    gateway = await startGateway({
      upstream: upstream.url,
      rateLimits,
      trustProxy: ['127.0.0.1'],
    });
    expect(await statuses(gateway, '198.51.100.1', LIMIT + 1)).toEqual([200, 200, 200, 429]);
    expect(await statuses(gateway, '198.51.100.2', LIMIT + 1)).toEqual([200, 200, 200, 429]);
  });

  it('right-most untrusted address is the key', async () => {
    gateway = await startGateway({
      upstream: upstream.url,
      rateLimits,
      trustProxy: ['127.0.0.1', '10.0.0.0/8'],
    });
    expect(await statuses(gateway, '198.51.100.1', LIMIT)).toEqual([200, 200, 200]);
    // Entries left of the client's are client-controlled and change nothing.
    expect(await statuses(gateway, '192.0.2.50, 198.51.100.1', 1)).toEqual([429]);
    // Trusted hops right of the client are skipped.
    expect(await statuses(gateway, '198.51.100.1, 10.1.2.3', 1)).toEqual([429]);
    // An IPv4-mapped IPv6 form of the same client is the same key.
    expect(await statuses(gateway, '::ffff:198.51.100.1', 1)).toEqual([429]);
    expect(await statuses(gateway, '198.51.100.1, 198.51.100.9', 1)).toEqual([200]);
  });
});
