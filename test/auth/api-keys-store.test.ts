import { randomBytes } from 'node:crypto';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { checksumOf, generateApiKey } from '../../src/auth/api-key-format.js';
import { ApiKeyGuard } from '../../src/auth/api-key-guard.js';
import { ApiKeyHasher, MemoryApiKeyStore } from '../../src/auth/api-key-store.js';
import type { AuthPolicy } from '../../src/auth/policy.js';
import { ManualClock } from '../../src/core/clock.js';
import { createContext, type RequestContext } from '../../src/core/context.js';
import type { Reject, Verdict } from '../../src/core/guard.js';

// node:crypto is wrapped so a test can see that hashes are compared with timingSafeEqual.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const crypto = await import('node:crypto');

const PEPPER = randomBytes(32).toString('base64');
const MINUTE = 60_000;

const API_KEY_ONLY: AuthPolicy = {
  apiKey: true,
  jwt: false,
  anonymous: false,
  allScopes: [],
  anyScopes: [],
};

const guards: ApiKeyGuard[] = [];

afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
});

function setup(start = 1_000_000) {
  const clock = new ManualClock(start);
  const store = new MemoryApiKeyStore({ pepper: PEPPER, clock });
  const guard = new ApiKeyGuard({
    store,
    pepper: PEPPER,
    clock,
    fallback: API_KEY_ONLY,
    lastUsedFlushIntervalMs: 3_600_000,
  });
  guards.push(guard);
  return { clock, store, guard };
}

function request(headers: Record<string, string>, url = '/orders'): RequestContext {
  return createContext({
    id: 'req-1',
    correlationId: 'req-1',
    method: 'GET',
    url,
    headers,
    ip: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    receivedAt: 0,
  });
}

async function check(guard: ApiKeyGuard, key: string): Promise<Verdict> {
  return guard.check(request({ authorization: `Bearer ${key}` }));
}

function reasonOf(verdict: Verdict): unknown {
  expect(verdict.action).toBe('reject');
  return (verdict as Reject).problem.reason;
}

describe('api key store', () => {
  it('stores only the HMAC of a key', async () => {
    const { store } = setup();

    const { key, record } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });

    const stored = JSON.stringify(store.records());
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(-34, -6));
    expect(record.hash).toBe(new ApiKeyHasher(PEPPER).hash(key));
    expect(record.hash).not.toBe(new ApiKeyHasher(randomBytes(32)).hash(key));
  });

  it('hash comparison uses timingSafeEqual', async () => {
    const { store, guard } = setup();
    const { key } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });
    const compare = vi.mocked(crypto.timingSafeEqual);
    compare.mockClear();

    expect((await check(guard, key)).action).toBe('continue');

    expect(compare).toHaveBeenCalledTimes(1);
  });

  it('short pepper is rejected', () => {
    expect(() => new MemoryApiKeyStore({ pepper: 'too-short' })).toThrow(/at least 32/);
  });

  it('list filters by owner', async () => {
    const { store } = setup();
    await store.create({ env: 'live', name: 'a', owner: 'team-a' });
    await store.create({ env: 'live', name: 'b', owner: 'team-b' });

    const listed = await store.list({ owner: 'team-b' });

    expect(listed.map((record) => record.name)).toEqual(['b']);
    expect(await store.list()).toHaveLength(2);
  });

  it('last use is written in batches', async () => {
    const { store, guard, clock } = setup();
    const { key, record } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });

    await check(guard, key);
    await check(guard, key);

    expect((await store.findById(record.id))?.lastUsedAt).toBeUndefined();
    clock.advance(5_000);
    await guard.flushLastUsed();
    expect((await store.findById(record.id))?.lastUsedAt).toBe(clock.now());
  });

  it('close flushes pending last use', async () => {
    const { store, guard } = setup();
    const { key, record } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });

    await check(guard, key);
    await guard.close();

    expect((await store.findById(record.id))?.lastUsedAt).toBeDefined();
  });
});

describe('api key hasher', () => {
  it('still rejects other keys after a key matched once', async () => {
    const store = new MemoryApiKeyStore({ pepper: PEPPER });
    const { key, record } = await store.create({ env: 'test', name: 'a', owner: 'o' });
    const { key: other } = await store.create({ env: 'test', name: 'b', owner: 'o' });
    const hasher = new ApiKeyHasher(PEPPER);

    expect(hasher.matches(key, record.hash)).toBe(true);
    expect(hasher.matches(key, record.hash)).toBe(true);
    expect(hasher.matches(other, record.hash)).toBe(false);
    expect(hasher.matches(`${key.slice(0, -1)}x`, record.hash)).toBe(false);
    expect(hasher.matches(key, new ApiKeyHasher(randomBytes(32)).hash(key))).toBe(false);
  });
});

describe('api key guard', () => {
  it('valid key sets the principal', async () => {
    const { store, guard } = setup();
    const { key, record } = await store.create({
      env: 'live',
      name: 'ci',
      owner: 'team-a',
      scopes: ['orders:read'],
      plan: 'pro',
    });
    const ctx = request({ 'x-api-key': key });

    expect((await guard.check(ctx)).action).toBe('continue');

    expect(ctx.principal).toEqual({
      type: 'api_key',
      id: record.id,
      scopes: ['orders:read'],
      plan: 'pro',
    });
  });

  it('revoked key is rejected', async () => {
    const { store, guard } = setup();
    const { key, record } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });

    expect(await store.revoke(record.id)).toBe(true);

    expect(reasonOf(await check(guard, key))).toBe('revoked');
  });

  it('expired key is rejected', async () => {
    const { store, guard, clock } = setup();
    const expiresAt = clock.now() + MINUTE;
    const { key } = await store.create({ env: 'live', name: 'ci', owner: 'a', expiresAt });

    expect((await check(guard, key)).action).toBe('continue');
    clock.set(expiresAt);
    expect(reasonOf(await check(guard, key))).toBe('expired');
  });

  it('rotated key works inside grace', async () => {
    const { store, guard, clock } = setup();
    const old = await store.create({ env: 'live', name: 'ci', owner: 'team-a', scopes: ['x'] });

    const successor = await store.rotate(old.record.id, 10 * MINUTE);
    clock.advance(10 * MINUTE - 1);

    expect((await check(guard, old.key)).action).toBe('continue');
    expect((await check(guard, successor.key)).action).toBe('continue');
    expect(successor.record.scopes).toEqual(['x']);
    expect((await store.findById(old.record.id))?.replacedBy).toBe(successor.record.id);
  });

  it('rotated key stops after grace', async () => {
    const { store, guard, clock } = setup();
    const old = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });

    const successor = await store.rotate(old.record.id, 10 * MINUTE);
    clock.advance(10 * MINUTE);

    expect(reasonOf(await check(guard, old.key))).toBe('rotated');
    expect((await check(guard, successor.key)).action).toBe('continue');
  });

  it('revoked key cannot be rotated', async () => {
    const { store } = setup();
    const { record } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });
    await store.revoke(record.id);

    await expect(store.rotate(record.id, MINUTE)).rejects.toThrow(/no active API key/);
  });

  it('wrong secret with known id is unknown', async () => {
    const { store, guard } = setup();
    const { key, record } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });
    await store.revoke(record.id);
    // Same id, other secret, valid checksum: the reply must not reveal the key is revoked.
    const other = generateApiKey('live').secret;
    const body = key.slice(0, 'bwk_live_'.length + 12) + other.slice(21, -6);
    const forged = body + checksumOf(body);

    expect(reasonOf(await check(guard, forged))).toBe('unknown_key');
    expect(reasonOf(await check(guard, key))).toBe('revoked');
  });

  it('bad checksum skips the store', async () => {
    const { store, guard } = setup();
    const { key } = await store.create({ env: 'live', name: 'ci', owner: 'team-a' });
    const lookup = vi.spyOn(store, 'findById');
    const typo = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');

    const verdict = guard.check(request({ authorization: `Bearer ${typo}` }));

    expect(reasonOf(await verdict)).toBe('bad_checksum');
    expect(lookup).not.toHaveBeenCalled();
  });

  it('missing key is 401 required', async () => {
    const { guard } = setup();

    const verdict = await guard.check(request({}));

    expect(verdict.action).toBe('reject');
    expect((verdict as Reject).status).toBe(401);
    expect((verdict as Reject).problem.code).toBe('BWK_ERR_AUTH_REQUIRED');
  });
});
