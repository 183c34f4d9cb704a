import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { FolderArchiveTarget } from '../../src/audit/archive/folder.js';
import { readArchive } from '../../src/audit/archive/writer.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { applyRetention } from '../../src/audit/retention.js';
import type { TombstoneBody } from '../../src/audit/signed.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import type { AuditLog } from '../../src/audit/writer.js';
import { newKeys, openWriter, removeTempDirs, sampleEvent, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

const DAY = 24 * 3_600_000;
const logs: AuditLog[] = [];

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
});

/** Events 0..11 at one-day steps back from `now`: event n is n days old, newest last. */
async function agedLog() {
  const store = new SqliteAuditStore({ path: join(tempDir(), 'audit.db') });
  const keys = newKeys();
  const log = openWriter(store, keys, { checkpoint: { every: 4, interval: 3_600_000 } });
  logs.push(log);
  const now = new Date('2026-12-20T00:00:00.000Z');
  for (let age = 11; age >= 0; age -= 1) {
    await log.appendEvents([
      sampleEvent(age, { time: new Date(now.getTime() - age * DAY - 1000).toISOString() }),
    ]);
  }
  await log.flush();
  const target = new FolderArchiveTarget(tempDir('bwk-audit-archive-'));
  return { store, keys, log, now, target };
}

describe('audit retention', () => {
  it('expired records are archived, removed and tombstoned', async () => {
    const { store, keys, log, now, target } = await agedLog();
    const before = await store.count('gw-1');
    const result = await applyRetention({
      store,
      log,
      keys,
      target,
      policy: { default: 'forever', categories: { violation: 7 * DAY } },
      now,
    });
    // Violations are the events whose age in days is not a multiple of 3; those 7 days old
    // and older go (each event is one second older than its whole days).
    const expiredAges = [11, 10, 8, 7];
    expect(result.removed).toBe(expiredAges.length);
    expect(await store.count('gw-1')).toBe(before - expiredAges.length + 1);

    const archived = (await readArchive(
      target,
      result.archive!,
      keys.signing.publicKeyById,
    )) as AuditRecord[];
    expect(archived.map((r) => r.category)).toEqual(expiredAges.map(() => 'violation'));
    expect(archived.map((r) => r.seq)).toEqual(result.runs.flatMap((run) => range(run)));

    const [tombstone] = await store.scanKind('gw-1', 'tombstone');
    const body = JSON.parse(tombstone!.body) as TombstoneBody;
    expect(body.archive).toBe(result.archive);
    expect(body.categories).toEqual({ violation: 7 });
    expect(body.removed.reduce((sum, run) => sum + run.count, 0)).toBe(expiredAges.length);
  });

  it('log with tombstones still verifies and shows the removals', async () => {
    const { store, keys, log, now, target } = await agedLog();
    await applyRetention({
      store,
      log,
      keys,
      target,
      policy: { default: 7 * DAY, categories: {} },
      now,
    });
    await log.checkpoint();
    const report = await verifyAuditLog({
      store,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    expect(report.ok).toBe(true);
    const removed = report.chains[0]!.removedByPolicy;
    expect(removed.reduce((sum, run) => sum + run.count, 0)).toBe(5);
    expect(removed.every((run) => run.archive.length > 0)).toBe(true);
  });

  it('forever keeps everything', async () => {
    const { store, keys, log, now, target } = await agedLog();
    const before = await store.count();
    const result = await applyRetention({
      store,
      log,
      keys,
      target,
      policy: { default: 'forever', categories: { violation: 'forever' } },
      now,
    });
    expect(result.removed).toBe(0);
    expect(await store.count()).toBe(before);
  });

  it('category forever overrides a default', async () => {
    const { store, keys, log, now, target } = await agedLog();
    await applyRetention({
      store,
      log,
      keys,
      target,
      policy: { default: 7 * DAY, categories: { authentication: 'forever' } },
      now,
    });
    const categories = (await store.scan('gw-1', 1, 100))
      .filter((r) => r.kind === 'event')
      .map((r) => r.category);
    expect(categories.filter((c) => c === 'authentication')).toHaveLength(4);
  });

  it('second pass removes only newly expired records', async () => {
    const { store, keys, log, now, target } = await agedLog();
    const policy = { default: 7 * DAY, categories: {} };
    await applyRetention({ store, log, keys, target, policy, now });
    const later = new Date(now.getTime() + 2 * DAY);
    const second = await applyRetention({ store, log, keys, target, policy, now: later });
    expect(second.removed).toBe(2);
    const report = await verifyAuditLog({
      store,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    expect(report.ok).toBe(true);
    expect(report.chains[0]!.removedByPolicy.length).toBeGreaterThanOrEqual(2);
  });
});

function range(run: { fromSeq: number; toSeq: number }): number[] {
  return Array.from({ length: run.toSeq - run.fromSeq + 1 }, (_, i) => run.fromSeq + i);
}
