import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { merkleRoot } from '../../src/audit/merkle.js';
import { proveRecord, verifyRecordProof } from '../../src/audit/proof.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import type { AuditStore, SealRecords } from '../../src/audit/store.js';
import type { CheckpointBody } from '../../src/audit/signed.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { AuditEventsDroppedError, type AuditLog } from '../../src/audit/writer.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { EventBus } from '../../src/events/bus.js';
import { newKeys, openWriter, removeTempDirs, sampleEvent, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

const logs: AuditLog[] = [];

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
});

function sqlite(): SqliteAuditStore {
  return new SqliteAuditStore({ path: join(tempDir(), 'audit.db') });
}

function writer(
  store: AuditStore,
  ...rest: Parameters<typeof openWriter> extends [unknown, ...infer R] ? R : never
): AuditLog {
  const log = openWriter(store, ...rest);
  logs.push(log);
  return log;
}

/** A store whose appends fail while `down` is true, as an unreachable database would. */
class FlakyStore extends SqliteAuditStore {
  down = false;
  appends = 0;

  override append(instance: string, seal: SealRecords) {
    this.appends += 1;
    if (this.down) return Promise.reject(new StoreUnavailableError('store down (test)'));
    return super.append(instance, seal);
  }
}

async function countOf(counter: { get(): Promise<{ values: Array<{ value: number }> }> }) {
  return (await counter.get()).values[0]?.value ?? 0;
}

describe('audit writer: recording', () => {
  it('open records audit.started', async () => {
    const store = sqlite();
    const log = writer(store, newKeys());
    await log.open();
    const [first] = await store.scan('gw-1', 1, 1);
    expect(first!.type).toBe('audit.started');
    expect(first!.category).toBe('system');
  });

  it('close records audit.stopped and a checkpoint', async () => {
    const path = join(tempDir(), 'audit.db');
    const keys = newKeys();
    const log = openWriter(new SqliteAuditStore({ path }), keys);
    await log.open();
    await log.appendEvents([sampleEvent(1)]);
    await log.close();
    const store = new SqliteAuditStore({ path });
    const records = await store.scan('gw-1', 1, 100);
    expect(records.map((r) => r.type)).toEqual([
      'audit.started',
      'ratelimit.exceeded',
      'audit.stopped',
      'audit.checkpoint',
    ]);
    await store.close();
  });

  it('every bus event is appended in order', async () => {
    const store = sqlite();
    const log = writer(store, newKeys(), { checkpoint: { every: 1000, interval: 3_600_000 } });
    const bus = new EventBus({ instance: 'test' });
    bus.addSink(log);
    const published = [];
    for (let n = 0; n < 1200; n += 1) {
      published.push(
        bus.publish({
          type: 'ratelimit.exceeded',
          category: 'violation',
          severity: 'low',
          outcome: 'blocked',
          actor: { type: 'anonymous', ip: '192.0.2.1' },
          component: 'test',
          details: { n },
        }),
      );
    }
    await bus.flush();
    expect(await store.count('gw-1')).toBe(1201);
    const ids = (await store.scan('gw-1', 1, 2000))
      .filter((r) => r.kind === 'event')
      .map((r) => (JSON.parse(r.body) as { event: { id: string } }).event.id);
    expect(ids).toEqual(published.map((event) => event.id));
  });

  it('concurrent appends share group commits', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    const log = writer(store, newKeys(), { checkpoint: { every: 100_000, interval: 3_600_000 } });
    await Promise.all(Array.from({ length: 200 }, (_, n) => log.appendEvents([sampleEvent(n)])));
    expect(await store.count('gw-1')).toBe(200);
    expect(store.appends).toBeLessThan(200);
  });

  it('maxBatch bounds one transaction', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    const log = writer(store, newKeys(), {
      maxBatch: 10,
      checkpoint: { every: 100_000, interval: 3_600_000 },
    });
    await Promise.all(Array.from({ length: 50 }, (_, n) => log.appendEvents([sampleEvent(n)])));
    expect(store.appends).toBeGreaterThanOrEqual(5);
  });

  it('append resolves after the records are stored', async () => {
    const store = sqlite();
    const log = writer(store, newKeys());
    const event = sampleEvent(1);
    await log.appendEvents([event]);
    expect(await store.count('gw-1')).toBe(1);
  });

  it('record builds an event from a draft', async () => {
    const store = sqlite();
    const log = writer(store, newKeys(), { encryption: { mode: 'none', fields: [] } });
    const event = await log.record({
      type: 'admin.action',
      category: 'admin',
      severity: 'info',
      outcome: 'success',
      actor: { type: 'user', id: 'ops' },
      component: 'test',
    });
    const [stored] = await store.scan('gw-1', 1, 1);
    expect(JSON.parse(stored!.body)).toEqual({ event });
    expect(event.source.instance).toBe('gw-1');
  });

  it('empty append writes nothing', async () => {
    const store = sqlite();
    const log = writer(store, newKeys());
    await log.appendEvents([]);
    expect(await store.count()).toBe(0);
  });

  it('unused writer closes without records', async () => {
    const path = join(tempDir(), 'audit.db');
    const log = openWriter(new SqliteAuditStore({ path }), newKeys());
    await log.close();
    const store = new SqliteAuditStore({ path });
    expect(await store.count()).toBe(0);
    await store.close();
  });

  it('appends after close are rejected', async () => {
    const log = openWriter(sqlite(), newKeys());
    await log.close();
    await expect(log.appendEvents([sampleEvent(1)])).rejects.toThrow('closed');
  });

  it('writer resumes the chain after a restart', async () => {
    const path = join(tempDir(), 'audit.db');
    const keys = newKeys();
    const first = openWriter(new SqliteAuditStore({ path }), keys);
    await first.appendEvents([sampleEvent(1), sampleEvent(2)]);
    await first.close();
    const store = new SqliteAuditStore({ path });
    const second = writer(store, keys);
    await second.appendEvents([sampleEvent(3)]);
    const report = await verifyAuditLog({
      store,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    expect(report.ok).toBe(true);
    expect(report.chains[0]!.records).toBe(5);
  });
});

describe('audit writer: checkpoints', () => {
  it('checkpoint every N records', async () => {
    const store = sqlite();
    const log = writer(store, newKeys(), { checkpoint: { every: 5, interval: 3_600_000 } });
    for (let n = 0; n < 12; n += 1) await log.appendEvents([sampleEvent(n)]);
    await log.flush();
    const checkpoints = await store.scanKind('gw-1', 'checkpoint');
    expect(checkpoints.length).toBe(2);
    const body = JSON.parse(checkpoints[0]!.body) as CheckpointBody;
    expect(body.fromSeq).toBe(1);
    expect(body.toSeq).toBe(5);
    expect(body.count).toBe(5);
  });

  it('checkpoint after the interval', async () => {
    const store = sqlite();
    const log = writer(store, newKeys(), { checkpoint: { every: 1000, interval: 30 } });
    await log.appendEvents([sampleEvent(1)]);
    await expect
      .poll(async () => (await store.scanKind('gw-1', 'checkpoint')).length, { timeout: 5000 })
      .toBe(1);
  });

  it('checkpoint root covers the records since the last one', async () => {
    const store = sqlite();
    const keys = newKeys();
    const log = writer(store, keys, { checkpoint: { every: 4, interval: 3_600_000 } });
    await log.appendEvents([1, 2, 3, 4].map((n) => sampleEvent(n)));
    await log.flush();
    const records = await store.scan('gw-1', 1, 10);
    const body = JSON.parse(records[4]!.body) as CheckpointBody;
    expect(body.root).toBe(merkleRoot(records.slice(0, 4).map((r) => r.hash)));
    expect(body.lastHash).toBe(records[3]!.hash);
    expect(body.kid).toBe(keys.signing.kid);
  });

  it('checkpoints after open cover their ranges', async () => {
    const store = sqlite();
    const keys = newKeys();
    const log = writer(store, keys, { checkpoint: { every: 5, interval: 3_600_000 } });
    await log.open();
    for (let n = 0; n < 13; n += 1) await log.appendEvents([sampleEvent(n)]);
    await log.flush();
    const records = await store.scan('gw-1', 1, 100);
    const checkpoints = records.filter((r) => r.kind === 'checkpoint');
    expect(checkpoints.length).toBe(2);
    let from = 1;
    for (const checkpoint of checkpoints) {
      const body = JSON.parse(checkpoint.body) as CheckpointBody;
      const covered = records.filter((r) => r.seq >= from && r.seq < checkpoint.seq);
      expect(body.fromSeq).toBe(from);
      expect(body.toSeq).toBe(checkpoint.seq - 1);
      expect(body.count).toBe(covered.length);
      expect(body.root).toBe(merkleRoot(covered.map((r) => r.hash)));
      from = checkpoint.seq + 1;
    }
  });

  it('two writers of one chain keep checkpoints valid', async () => {
    const path = join(tempDir(), 'audit.db');
    const keys = newKeys();
    const options = { checkpoint: { every: 4, interval: 3_600_000 } };
    const first = writer(new SqliteAuditStore({ path }), keys, options);
    const second = writer(new SqliteAuditStore({ path }), keys, options);
    await first.open();
    await second.open();
    for (let n = 0; n < 10; n += 1) {
      await (n % 3 === 0 ? second : first).appendEvents([sampleEvent(n)]);
    }
    await first.checkpoint();
    await second.checkpoint();
    const reader = new SqliteAuditStore({ path });
    const report = await verifyAuditLog({
      store: reader,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    const checkpoints = await reader.scanKind('gw-1', 'checkpoint');
    await reader.close();
    expect(report.ok).toBe(true);
    expect(checkpoints.length).toBeGreaterThan(1);
  });

  it('checkpoint without new records is skipped', async () => {
    const store = sqlite();
    const log = writer(store, newKeys(), { checkpoint: { every: 1000, interval: 3_600_000 } });
    await log.appendEvents([sampleEvent(1)]);
    await log.checkpoint();
    await log.checkpoint();
    expect((await store.scanKind('gw-1', 'checkpoint')).length).toBe(1);
  });

  it('external checkpoints are written once each', async () => {
    const store = sqlite();
    const external = tempDir('bwk-audit-external-');
    const log = writer(store, newKeys(), {
      checkpoint: { every: 3, interval: 3_600_000, externalDir: external },
    });
    await log.appendEvents([1, 2, 3].map((n) => sampleEvent(n)));
    await log.appendEvents([4, 5, 6].map((n) => sampleEvent(n)));
    await log.flush();
    const files = readdirSync(join(external, 'gw-1')).sort();
    expect(files).toEqual(['000000000004.json', '000000000008.json']);
    const copy = JSON.parse(readFileSync(join(external, 'gw-1', files[0]!), 'utf8')) as {
      hash: string;
    };
    expect(copy.hash).toBe((await store.get('gw-1', 4))!.hash);
  });

  it('inclusion proof verifies with the public key', async () => {
    const store = sqlite();
    const keys = newKeys();
    const log = writer(store, keys, { checkpoint: { every: 7, interval: 3_600_000 } });
    await log.appendEvents([1, 2, 3, 4, 5, 6, 7].map((n) => sampleEvent(n)));
    await log.flush();
    const proof = await proveRecord(store, 'gw-1', 5);
    expect(proof).toBeDefined();
    expect(verifyRecordProof(proof!, keys.signing.publicKeyById)).toBe(true);
    const altered = { ...proof!, record: { ...proof!.record, body: '{"event":{}}' } };
    expect(verifyRecordProof(altered, keys.signing.publicKeyById)).toBe(false);
    const otherKeys = newKeys();
    expect(verifyRecordProof(proof!, otherKeys.signing.publicKeyById)).toBe(false);
  });

  it('record after the last checkpoint has no proof yet', async () => {
    const store = sqlite();
    const log = writer(store, newKeys(), { checkpoint: { every: 1000, interval: 3_600_000 } });
    await log.appendEvents([sampleEvent(1)]);
    expect(await proveRecord(store, 'gw-1', 1)).toBeUndefined();
  });
});

describe('audit writer: store failures', () => {
  it('failing store spools events and acknowledges them', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    store.down = true;
    const log = writer(store, newKeys());
    await log.appendEvents([sampleEvent(1), sampleEvent(2)]);
    expect(log.degraded).toBe(true);
    expect(await countOf(log.metrics.spooled)).toBe(2);
    expect(await countOf(log.metrics.storeFailures)).toBeGreaterThan(0);
    expect(await store.count()).toBe(0);
  });

  it('spooled events are replayed in order when the store is back', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    const keys = newKeys();
    const log = writer(store, keys, { checkpoint: { every: 1000, interval: 3_600_000 } });
    await log.appendEvents([sampleEvent(1)]);
    store.down = true;
    const spooled = [sampleEvent(2), sampleEvent(3)];
    await log.appendEvents(spooled);
    store.down = false;
    await new Promise((resolve) => setTimeout(resolve, 30));
    await log.appendEvents([sampleEvent(4)]);
    await log.flush();
    const paths = (await store.scan('gw-1', 1, 10)).map(
      (r) => (JSON.parse(r.body) as { event: { target: { path: string } } }).event.target.path,
    );
    expect(paths).toEqual(['/orders/1', '/orders/2', '/orders/3', '/orders/4']);
    expect(log.degraded).toBe(false);
    const report = await verifyAuditLog({
      store,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    expect(report.ok).toBe(true);
  });

  it('spool replays without new events', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    store.down = true;
    const log = writer(store, newKeys());
    await log.appendEvents([sampleEvent(1)]);
    store.down = false;
    await expect.poll(() => store.count(), { timeout: 5000 }).toBe(1);
  });

  it('spool lines are encrypted when a key exists', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    store.down = true;
    const spoolFile = join(tempDir(), 'spool.jsonl');
    const log = writer(store, newKeys(), {
      spool: { file: spoolFile, maxBytes: 1024 * 1024, retryInterval: 3_600_000 },
    });
    await log.appendEvents([sampleEvent(1)]);
    const text = readFileSync(spoolFile, 'utf8');
    expect(text).not.toContain('192.0.2.1');
    expect(text.startsWith('v1.')).toBe(true);
    expect(statSync(spoolFile).mode & 0o077).toBe(0);
  });

  it('full spool drops events, counts and reports them', async () => {
    const store = new FlakyStore({ path: join(tempDir(), 'audit.db') });
    store.down = true;
    const log = writer(store, newKeys(), {
      spool: { file: join(tempDir(), 'spool.jsonl'), maxBytes: 1500, retryInterval: 20 },
    });
    await log.appendEvents([sampleEvent(1)]);
    const many = Array.from({ length: 20 }, (_, n) => sampleEvent(n + 2));
    await expect(log.appendEvents(many)).rejects.toBeInstanceOf(AuditEventsDroppedError);
    expect(await countOf(log.metrics.dropped)).toBe(20);
    store.down = false;
    await expect
      .poll(async () => (await store.query({ types: ['audit.events_dropped'], limit: 5 })).length, {
        timeout: 5000,
      })
      .toBe(1);
    const [report] = await store.query({ types: ['audit.events_dropped'], limit: 5 });
    expect(report!.severity).toBe('critical');
    expect(await store.count()).toBe(2);
  });

  it('spool survives a restart and is replayed by the next writer', async () => {
    const path = join(tempDir(), 'audit.db');
    const spoolFile = join(tempDir(), 'spool.jsonl');
    const keys = newKeys();
    const spool = { file: spoolFile, maxBytes: 1024 * 1024, retryInterval: 20 };
    const down = new FlakyStore({ path });
    down.down = true;
    const first = openWriter(down, keys, { spool });
    await first.appendEvents([sampleEvent(1), sampleEvent(2)]);
    await down.close();
    const store = new SqliteAuditStore({ path });
    const second = writer(store, keys, { spool });
    await second.open();
    const types = (await store.scan('gw-1', 1, 10)).map((r) => r.type);
    expect(types.slice(0, 2)).toEqual(['ratelimit.exceeded', 'ratelimit.exceeded']);
    expect(types).toContain('audit.started');
    expect(existsSync(`${spoolFile}.offset`)).toBe(false);
  });
});
