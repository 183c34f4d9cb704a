import { describe, expect, it } from 'vitest';

import { MemoryApiKeyStore, type ApiKeyRecord } from '../../src/auth/api-key-store.js';
import { CachingApiKeyStore } from '../../src/auth/credential-cache.js';
import { decodeChange, encodeChange } from '../../src/auth/invalidation.js';
import { ManualClock } from '../../src/core/clock.js';

const PEPPER = 'p'.repeat(32);

/** Counts lookups that reach the wrapped store. */
class CountingStore extends MemoryApiKeyStore {
  lookups = 0;

  override findById(id: string): Promise<ApiKeyRecord | undefined> {
    this.lookups += 1;
    return super.findById(id);
  }
}

function setup(ttlMs = 1_000) {
  const clock = new ManualClock(1_000_000);
  const inner = new CountingStore({ pepper: PEPPER, clock });
  const cache = new CachingApiKeyStore(inner, { ttlMs, clock, maxEntries: 3 });
  return { clock, inner, cache };
}

describe('CachingApiKeyStore', () => {
  it('answers repeated lookups from memory until the entry expires', async () => {
    const { clock, inner, cache } = setup();
    const { record } = await inner.create({ env: 'test', name: 'a', owner: 'o' });

    expect((await cache.findById(record.id))?.id).toBe(record.id);
    expect((await cache.findById(record.id))?.id).toBe(record.id);
    expect(inner.lookups).toBe(1);

    clock.advance(1_000);
    await cache.findById(record.id);
    expect(inner.lookups).toBe(2);
  });

  it('remembers unknown ids, so made-up keys do not reach the store each time', async () => {
    const { inner, cache } = setup();
    expect(await cache.findById('unknownid123')).toBeUndefined();
    expect(await cache.findById('unknownid123')).toBeUndefined();
    expect(inner.lookups).toBe(1);
  });

  it('shares one store query between concurrent lookups of the same id', async () => {
    const { inner, cache } = setup();
    const { record } = await inner.create({ env: 'test', name: 'a', owner: 'o' });
    const found = await Promise.all([1, 2, 3].map(() => cache.findById(record.id)));
    expect(found.map((r) => r?.id)).toEqual([record.id, record.id, record.id]);
    expect(inner.lookups).toBe(1);
  });

  it('sees a revocation made through the cache at once', async () => {
    const { cache } = setup(60_000);
    const { record } = await cache.create({ env: 'test', name: 'a', owner: 'o' });
    expect((await cache.findById(record.id))?.status).toBe('active');
    await cache.revoke(record.id);
    expect((await cache.findById(record.id))?.status).toBe('revoked');
  });

  it('serves a stale record for a change made elsewhere until evicted', async () => {
    const { inner, cache } = setup(60_000);
    const { record } = await inner.create({ env: 'test', name: 'a', owner: 'o' });
    await cache.findById(record.id);

    await inner.revoke(record.id);
    expect((await cache.findById(record.id))?.status).toBe('active');
    cache.evict(record.id);
    expect((await cache.findById(record.id))?.status).toBe('revoked');
  });

  it('does not keep an answer whose query overlapped an eviction', async () => {
    const { inner, cache } = setup(60_000);
    const { record } = await inner.create({ env: 'test', name: 'a', owner: 'o' });
    const pending = cache.findById(record.id);
    await inner.revoke(record.id);
    cache.evict(record.id);
    await pending;
    expect((await cache.findById(record.id))?.status).toBe('revoked');
  });

  it('drops the oldest entry beyond maxEntries', async () => {
    const { inner, cache } = setup(60_000);
    for (const id of ['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'cccccccccccc', 'dddddddddddd'])
      await cache.findById(id);
    expect(cache.size).toBe(3);
    await cache.findById('aaaaaaaaaaaa');
    expect(inner.lookups).toBe(5);
  });
});

describe('credential change notices', () => {
  it('round-trip and reject anything malformed', () => {
    const text = encodeChange({ kind: 'apiKey', id: 'abc' }, 'origin-1');
    expect(decodeChange(text)).toEqual({ kind: 'apiKey', id: 'abc', origin: 'origin-1' });
    expect(decodeChange('not json')).toBeUndefined();
    expect(decodeChange('{"kind":"root","id":"x","origin":"o"}')).toBeUndefined();
    expect(decodeChange('{"kind":"apiKey","id":5,"origin":"o"}')).toBeUndefined();
    expect(
      decodeChange(`{"kind":"apiKey","id":"${'x'.repeat(2000)}","origin":"o"}`),
    ).toBeUndefined();
  });
});
