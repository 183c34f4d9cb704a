import { describe, expect, it } from 'vitest';

import { ConnectionThrottle, type ConnectionThrottleSettings } from '../../src/ddos/connections.js';

function throttle(settings: Partial<ConnectionThrottleSettings> = {}) {
  const clock = { now: 0 };
  const limiter = new ConnectionThrottle(
    { maxConcurrent: 2, maxNewPerSecond: 0, ipv6Prefix: 64, allow: [], ...settings },
    () => clock.now,
  );
  return { limiter, clock };
}

describe('ConnectionThrottle', () => {
  it('rejects connections over the concurrent limit', () => {
    const { limiter } = throttle();

    const first = limiter.admit('192.0.2.1');
    const second = limiter.admit('192.0.2.1');
    const third = limiter.admit('192.0.2.1');

    expect(first.admitted).toBe(true);
    expect(second.admitted).toBe(true);
    expect(third).toMatchObject({ admitted: false, reason: 'concurrent' });
  });

  it('admits again after a connection closes', () => {
    const { limiter } = throttle();
    const first = limiter.admit('192.0.2.1');
    limiter.admit('192.0.2.1');

    limiter.release(first.client);

    expect(limiter.admit('192.0.2.1').admitted).toBe(true);
  });

  it('counts each client separately', () => {
    const { limiter } = throttle();
    limiter.admit('192.0.2.1');
    limiter.admit('192.0.2.1');

    expect(limiter.admit('192.0.2.2').admitted).toBe(true);
  });

  it('counts an IPv6 /64 as one client', () => {
    const { limiter } = throttle();
    limiter.admit('2001:db8:1:2::a');
    limiter.admit('2001:db8:1:2:ffff::b');

    const sameNetwork = limiter.admit('2001:db8:1:2::c');
    const otherNetwork = limiter.admit('2001:db8:1:3::a');

    expect(sameNetwork).toMatchObject({ admitted: false, client: { key: '2001:db8:1:2::/64' } });
    expect(otherNetwork.admitted).toBe(true);
  });

  it('counts IPv4-mapped IPv6 peers as their IPv4 address', () => {
    const { limiter } = throttle();
    limiter.admit('::ffff:192.0.2.1');
    limiter.admit('192.0.2.1');

    expect(limiter.admit('::ffff:192.0.2.1')).toMatchObject({
      admitted: false,
      client: { key: '192.0.2.1' },
    });
  });

  it('never throttles an allowlisted client', () => {
    const { limiter } = throttle({ allow: ['192.0.2.0/24'] });

    const verdicts = Array.from({ length: 10 }, () => limiter.admit('192.0.2.7'));

    expect(verdicts.every((verdict) => verdict.admitted)).toBe(true);
  });

  it('allows a burst of new connections, then their rate', () => {
    const { limiter, clock } = throttle({ maxConcurrent: 0, maxNewPerSecond: 3 });

    const burst = Array.from({ length: 4 }, () => limiter.admit('192.0.2.1').admitted);
    clock.now += 340;
    const afterOneThird = limiter.admit('192.0.2.1').admitted;
    const tooSoon = limiter.admit('192.0.2.1');

    expect(burst).toEqual([true, true, true, false]);
    expect(afterOneThird).toBe(true);
    expect(tooSoon).toMatchObject({ admitted: false, reason: 'rate' });
  });

  it('does not charge the rate for a connection rejected as concurrent', () => {
    const { limiter } = throttle({ maxConcurrent: 1, maxNewPerSecond: 2 });
    const first = limiter.admit('192.0.2.1');
    expect(limiter.admit('192.0.2.1')).toMatchObject({ reason: 'concurrent' });

    limiter.release(first.client);

    expect(limiter.admit('192.0.2.1').admitted).toBe(true);
  });

  it('forgets idle clients once their bucket refilled', () => {
    const { limiter, clock } = throttle({ maxNewPerSecond: 10 });
    const verdict = limiter.admit('192.0.2.1');
    limiter.release(verdict.client);
    limiter.admit('192.0.2.2');

    clock.now += 1_000;
    limiter.sweep();

    expect(limiter.trackedClients).toBe(1);
  });

  it('treats a peer that is not an IP address as exempt', () => {
    const { limiter } = throttle({ maxConcurrent: 1 });

    const verdicts = [limiter.admit(undefined), limiter.admit(undefined)];

    expect(verdicts.every((verdict) => verdict.admitted && verdict.client.exempt)).toBe(true);
  });
});
