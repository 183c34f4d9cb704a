import { describe, expect, it } from 'vitest';

import {
  mostRestrictive,
  seconds,
  writeRateLimitHeaders,
  type HeaderOptions,
} from '../../src/ratelimit/headers.js';
import type { LimitDecision } from '../../src/ratelimit/policy.js';

const BOTH: HeaderOptions = { draft: true, legacy: true };

function decision(overrides: Partial<LimitDecision>): LimitDecision {
  return {
    policy: 'api',
    allowed: true,
    limit: 100,
    remaining: 50,
    resetMs: 30_000,
    retryAfterMs: 0,
    blocked: false,
    ...overrides,
  };
}

function headersFor(
  decisions: LimitDecision[],
  windows: number[],
  options = BOTH,
): Record<string, string> {
  const target: Record<string, string> = {};
  writeRateLimitHeaders(target, decisions, windows, options);
  return target;
}

describe('writeRateLimitHeaders', () => {
  it('draft fields for one policy', () => {
    const headers = headersFor([decision({})], [60_000]);

    expect(headers['ratelimit-policy']).toBe('"api";q=100;w=60');
    expect(headers['ratelimit']).toBe('"api";r=50;t=30');
  });

  it('draft fields list every policy', () => {
    const headers = headersFor(
      [
        decision({ policy: 'per-ip', limit: 100, remaining: 99, resetMs: 60_000 }),
        decision({ policy: 'login', limit: 5, remaining: 4, resetMs: 900_000 }),
      ],
      [60_000, 900_000],
    );

    expect(headers['ratelimit-policy']).toBe('"per-ip";q=100;w=60, "login";q=5;w=900');
    expect(headers['ratelimit']).toBe('"per-ip";r=99;t=60, "login";r=4;t=900');
  });

  it('seconds round up', () => {
    const headers = headersFor([decision({ resetMs: 29_001 })], [1_500]);

    expect(headers['ratelimit-policy']).toBe('"api";q=100;w=2');
    expect(headers['ratelimit']).toBe('"api";r=50;t=30');
    expect(headers['x-ratelimit-reset']).toBe('30');
  });

  it('legacy fields from least remaining', () => {
    const headers = headersFor(
      [
        decision({ policy: 'per-ip', limit: 100, remaining: 80, resetMs: 60_000 }),
        decision({ policy: 'route', limit: 10, remaining: 2, resetMs: 5_000 }),
      ],
      [60_000, 10_000],
    );

    expect(headers['x-ratelimit-limit']).toBe('10');
    expect(headers['x-ratelimit-remaining']).toBe('2');
    expect(headers['x-ratelimit-reset']).toBe('5');
  });

  it('legacy fields from the rejection', () => {
    const headers = headersFor(
      [
        decision({ policy: 'per-ip', remaining: 0, resetMs: 1_000 }),
        decision({
          policy: 'login',
          allowed: false,
          limit: 5,
          remaining: 3,
          resetMs: 900_000,
          retryAfterMs: 900_000,
        }),
      ],
      [60_000, 900_000],
    );

    expect(headers['x-ratelimit-limit']).toBe('5');
    expect(headers['x-ratelimit-remaining']).toBe('3');
    expect(headers['x-ratelimit-reset']).toBe('900');
  });

  it('each format switches off', () => {
    const draftOnly = headersFor([decision({})], [60_000], { draft: true, legacy: false });
    const legacyOnly = headersFor([decision({})], [60_000], { draft: false, legacy: true });

    expect(Object.keys(draftOnly).sort()).toEqual(['ratelimit', 'ratelimit-policy']);
    expect(Object.keys(legacyOnly).sort()).toEqual([
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ]);
  });

  it('no decisions write nothing', () => {
    expect(headersFor([], [])).toEqual({});
  });
});

describe('mostRestrictive', () => {
  it('longest wait among rejections', () => {
    const short = decision({ policy: 'short', allowed: false, retryAfterMs: 1_000 });
    const never = decision({
      policy: 'never',
      allowed: false,
      retryAfterMs: Number.POSITIVE_INFINITY,
    });
    const allowed = decision({ policy: 'allowed', remaining: 0 });

    expect(mostRestrictive([allowed, short, never]).policy).toBe('never');
    expect(mostRestrictive([short, allowed]).policy).toBe('short');
  });
});

describe('seconds', () => {
  it.each([
    [0, 0],
    [1, 1],
    [1_000, 1],
    [1_001, 2],
    [-5, 0],
    [Number.POSITIVE_INFINITY, 0],
  ])('%s ms is %s s', (ms, expected) => {
    expect(seconds(ms)).toBe(expected);
  });
});
