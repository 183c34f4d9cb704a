import { describe, expect, it } from 'vitest';

import { GENESIS_HASH } from '../../src/audit/record.js';
import type { AuditStore } from '../../src/audit/store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { newKeys, openWriter, sampleEvent } from './log-helpers.js';

/**
 * The behaviour every audit store must show. Each backend's test file calls this with a
 * factory that returns an empty store of its own.
 */
export function auditStoreContract(name: string, open: () => Promise<AuditStore>): void {
  describe(`audit store contract: ${name}`, () => {
    it('empty store has no chains', async () => {
      const store = await open();
      expect(await store.instances()).toEqual([]);
      expect(await store.head('gw-1')).toBeUndefined();
      expect(await store.count()).toBe(0);
    });

    it('append chains records from genesis', async () => {
      const store = await open();
      const log = openWriter(store, newKeys(), {
        checkpoint: { every: 1000, interval: 3_600_000 },
      });
      await log.appendEvents([sampleEvent(1), sampleEvent(2), sampleEvent(3)]);
      const records = await store.scan('gw-1', 1, 10);
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(records[0]!.prevHash).toBe(GENESIS_HASH);
      expect(records[1]!.prevHash).toBe(records[0]!.hash);
      expect(records[2]!.prevHash).toBe(records[1]!.hash);
      expect(await store.head('gw-1')).toEqual({ seq: 3, hash: records[2]!.hash });
    });

    it('chains of two instances stay apart', async () => {
      const store = await open();
      const keys = newKeys();
      const a = openWriter(store, keys, { instance: 'gw-a' });
      const b = openWriter(store, keys, { instance: 'gw-b' });
      await Promise.all([
        a.appendEvents([sampleEvent(1), sampleEvent(2)]),
        b.appendEvents([sampleEvent(3)]),
      ]);
      await a.appendEvents([sampleEvent(4)]);
      expect(await store.instances()).toEqual(['gw-a', 'gw-b']);
      expect((await store.head('gw-a'))?.seq).toBe(3);
      expect((await store.head('gw-b'))?.seq).toBe(1);
      const report = await verifyAuditLog({
        store,
        publicKeys: keys.signing.publicKeyById,
        hmacKeys: keys.hmac,
      });
      expect(report.ok).toBe(true);
      expect(report.chains.map((c) => c.records)).toEqual([3, 1]);
    });

    it('two writers of one chain interleave without forking', async () => {
      const store = await open();
      const keys = newKeys();
      const first = openWriter(store, keys);
      const second = openWriter(store, keys);
      await Promise.all([
        first.appendEvents([sampleEvent(1), sampleEvent(2)]),
        second.appendEvents([sampleEvent(3), sampleEvent(4)]),
      ]);
      expect((await store.head('gw-1'))?.seq).toBe(4);
      const report = await verifyAuditLog({ store, publicKeys: keys.signing.publicKeyById });
      expect(report.ok).toBe(true);
    });

    it('query filters by type, severity and time', async () => {
      const store = await open();
      const log = openWriter(store, newKeys(), {
        checkpoint: { every: 1000, interval: 3_600_000 },
      });
      await log.appendEvents([1, 2, 3, 4, 5, 6].map((n) => sampleEvent(n)));
      const failures = await store.query({ types: ['auth.failure'], limit: 100 });
      expect(failures.map((r) => r.seq)).toEqual([3, 6]);
      const low = await store.query({ severities: ['low'], limit: 100 });
      expect(low).toHaveLength(4);
      const ranged = await store.query({
        since: sampleEvent(2).time,
        until: sampleEvent(4).time,
        limit: 100,
      });
      expect(ranged.map((r) => r.seq)).toEqual([2, 3]);
    });

    it('query pages by insertion id, both orders', async () => {
      const store = await open();
      const log = openWriter(store, newKeys(), {
        checkpoint: { every: 1000, interval: 3_600_000 },
      });
      await log.appendEvents([1, 2, 3, 4, 5].map((n) => sampleEvent(n)));
      const first = await store.query({ limit: 2 });
      const rest = await store.query({ afterId: first[1]!.id, limit: 10 });
      expect([...first, ...rest].map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      const newest = await store.query({ order: 'desc', limit: 2 });
      expect(newest.map((r) => r.seq)).toEqual([5, 4]);
    });

    it('scanKind and lastCheckpoint find checkpoints', async () => {
      const store = await open();
      const log = openWriter(store, newKeys(), { checkpoint: { every: 3, interval: 3_600_000 } });
      await log.appendEvents([1, 2, 3].map((n) => sampleEvent(n)));
      await log.flush();
      const checkpoints = await store.scanKind('gw-1', 'checkpoint');
      expect(checkpoints.map((r) => r.seq)).toEqual([4]);
      expect(await store.lastCheckpoint('gw-1')).toBe(4);
    });

    it('get and remove address one chain', async () => {
      const store = await open();
      const log = openWriter(store, newKeys(), {
        checkpoint: { every: 1000, interval: 3_600_000 },
      });
      await log.appendEvents([1, 2, 3, 4].map((n) => sampleEvent(n)));
      expect((await store.get('gw-1', 2))?.seq).toBe(2);
      expect(await store.get('gw-2', 2)).toBeUndefined();
      expect(await store.remove('gw-1', 2, 3)).toBe(2);
      expect((await store.scan('gw-1', 1, 10)).map((r) => r.seq)).toEqual([1, 4]);
      expect(await store.count('gw-1')).toBe(2);
    });

    it('stored record reads back unchanged', async () => {
      const store = await open();
      const log = openWriter(store, newKeys(), { encryption: { mode: 'none', fields: [] } });
      const event = sampleEvent(7, { details: { note: 'ünïcode \u2028 line' } });
      await log.appendEvents([event]);
      const [record] = await store.scan('gw-1', 1, 1);
      expect(JSON.parse(record!.body)).toEqual({ event });
      expect(record!.time).toBe(event.time);
      expect(record!.type).toBe(event.type);
    });
  });
}
