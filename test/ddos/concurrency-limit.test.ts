import { describe, expect, it } from 'vitest';

import { GradientLimit, type LimitWindow } from '../../src/ddos/concurrency-limit.js';

const SETTINGS = {
  initialLimit: 20,
  minLimit: 4,
  maxLimit: 200,
  latencyTolerance: 2,
  maxEventLoopDelay: 50,
};

function window(meanLatencyMs: number, peakInFlight: number, eventLoopDelayMs = 0): LimitWindow {
  return { meanLatencyMs, peakInFlight, eventLoopDelayMs };
}

/** Feeds `count` identical windows and returns the limit after each. */
function feed(limit: GradientLimit, count: number, make: () => LimitWindow): number[] {
  return Array.from({ length: count }, () => limit.update(make()));
}

describe('GradientLimit', () => {
  it('grows while busy and latency stays at the baseline', () => {
    const limit = new GradientLimit(SETTINGS);

    const limits = feed(limit, 20, () => window(10, limit.limit));

    expect(limits.at(-1)).toBeGreaterThan(20);
    expect(limits).toEqual([...limits].sort((a, b) => a - b));
  });

  it('does not grow while fewer than half the slots are used', () => {
    const limit = new GradientLimit(SETTINGS);

    const limits = feed(limit, 20, () => window(10, 5));

    expect(limits.every((value) => value === 20)).toBe(true);
  });

  it('shrinks when latency rises beyond the tolerance', () => {
    const limit = new GradientLimit(SETTINGS);
    feed(limit, 5, () => window(10, 20));
    const before = limit.limit;

    const limits = feed(limit, 30, () => window(80, limit.limit));

    expect(limits.at(-1)).toBeLessThan(before / 2);
    expect(limit.baselineLatencyMs).toBe(10);
  });

  it('tolerates latency up to the tolerance', () => {
    const limit = new GradientLimit(SETTINGS);
    feed(limit, 5, () => window(10, 20));
    const before = limit.limit;

    feed(limit, 10, () => window(19, limit.limit));

    expect(limit.limit).toBeGreaterThanOrEqual(before);
  });

  it('shrinks while the event loop falls behind, whatever the latency', () => {
    const limit = new GradientLimit(SETTINGS);

    const limits = feed(limit, 5, () => window(10, 20, 120));

    expect(limits).toEqual([18, 16, 14, 13, 11]);
  });

  it('stays within minLimit and maxLimit', () => {
    const low = new GradientLimit(SETTINGS);
    const high = new GradientLimit(SETTINGS);

    feed(low, 200, () => window(1_000, 200, 500));
    feed(high, 500, () => window(10, 1_000));

    expect(low.limit).toBe(4);
    expect(high.limit).toBe(200);
  });

  it('accepts a slower upstream after being stuck at the minimum', () => {
    const limit = new GradientLimit(SETTINGS);
    feed(limit, 5, () => window(10, 20));

    // The upstream became five times slower for good, however little it is sent.
    feed(limit, 200, () => window(50, limit.limit));

    expect(limit.baselineLatencyMs).toBe(50);
    expect(feed(limit, 50, () => window(50, limit.limit)).at(-1)).toBeGreaterThan(4);
  });

  it('ignores windows without latency samples', () => {
    const limit = new GradientLimit(SETTINGS);

    limit.update({ meanLatencyMs: undefined, peakInFlight: 20, eventLoopDelayMs: 0 });

    expect(limit.limit).toBe(20);
    expect(limit.baselineLatencyMs).toBeUndefined();
  });
});
