import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { RecordCipher } from '../../src/audit/encryption.js';
import { loadAuditKeys, rotateAuditKey } from '../../src/audit/keys.js';
import { openEventBody } from '../../src/audit/seal.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import type { AuditLog } from '../../src/audit/writer.js';
import { newKeys, openWriter, removeTempDirs, sampleEvent, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

const logs: AuditLog[] = [];

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
});

function store(): SqliteAuditStore {
  return new SqliteAuditStore({ path: join(tempDir(), 'audit.db') });
}

describe('audit log encryption', () => {
  it('fields mode hides the configured fields', async () => {
    const db = store();
    const keys = newKeys();
    const log = openWriter(db, keys);
    logs.push(log);
    const event = sampleEvent(1);
    await log.appendEvents([event]);
    const [record] = await db.scan('gw-1', 1, 1);
    expect(record!.body).not.toContain('192.0.2.1');
    expect(record!.body).not.toContain('test-agent');
    expect(record!.body).not.toContain('sample');
    expect(record!.body).toContain('/orders/1');
    const opened = openEventBody(record!, new RecordCipher(keys.encryption!));
    expect(opened.unreadable).toEqual([]);
    expect(opened.event).toEqual(event);
  });

  it('record mode hides the whole event', async () => {
    const db = store();
    const keys = newKeys();
    const log = openWriter(db, keys, { encryption: { mode: 'record', fields: [] } });
    logs.push(log);
    const event = sampleEvent(2);
    await log.appendEvents([event]);
    const [record] = await db.scan('gw-1', 1, 1);
    expect(record!.body).not.toContain('/orders/2');
    expect(openEventBody(record!, new RecordCipher(keys.encryption!)).event).toEqual(event);
  });

  it('none mode stores plaintext', async () => {
    const db = store();
    const log = openWriter(db, newKeys(), { encryption: { mode: 'none', fields: [] } });
    logs.push(log);
    await log.appendEvents([sampleEvent(3)]);
    const [record] = await db.scan('gw-1', 1, 1);
    expect(record!.body).toContain('192.0.2.3');
  });

  it('verification needs no encryption key', async () => {
    const db = store();
    const keys = newKeys();
    const log = openWriter(db, keys, { encryption: { mode: 'record', fields: [] } });
    logs.push(log);
    await log.appendEvents([sampleEvent(1), sampleEvent(2)]);
    await log.checkpoint();
    const report = await verifyAuditLog({ store: db, publicKeys: keys.signing.publicKeyById });
    expect(report.ok).toBe(true);
  });

  it('without the key sealed fields stay ciphertext', async () => {
    const db = store();
    const log = openWriter(db, newKeys());
    logs.push(log);
    await log.appendEvents([sampleEvent(4)]);
    const [record] = await db.scan('gw-1', 1, 1);
    const opened = openEventBody(record!, new RecordCipher(newKeys().encryption!));
    expect(opened.unreadable).toEqual(['actor.ip', 'actor.userAgent', 'details']);
    expect(String((opened.event.actor as { ip: string }).ip).startsWith('v1.')).toBe(true);
  });

  it('ciphertext moved to another record does not decrypt', async () => {
    const db = store();
    const keys = newKeys();
    const log = openWriter(db, keys);
    logs.push(log);
    await log.appendEvents([sampleEvent(1), sampleEvent(2)]);
    const [first, second] = await db.scan('gw-1', 1, 2);
    const moved = { ...second!, body: first!.body };
    const opened = openEventBody(moved, new RecordCipher(keys.encryption!));
    expect(opened.unreadable).toContain('actor.ip');
  });

  it('encryption mode without a key is rejected at start', () => {
    const keys = newKeys();
    const withoutEncryption = { ...keys, encryption: undefined };
    expect(() => openWriter(store(), withoutEncryption)).toThrow(/needs an encryption key/);
  });
});

describe('audit key rotation', () => {
  it('records before an encryption key rotation stay readable', async () => {
    const db = store();
    const keys = newKeys();
    const before = openWriter(db, keys);
    await before.appendEvents([sampleEvent(1)]);
    await before.flush();
    const rotated = rotateAuditKey(keys.dir, 'encryption');
    const reloaded = loadAuditKeys({ dir: keys.dir, env: {} });
    expect(reloaded.encryption!.current.kid).toBe(rotated.kid);
    const after = openWriter(db, reloaded);
    logs.push(after);
    await after.appendEvents([sampleEvent(2)]);
    const cipher = new RecordCipher(reloaded.encryption!);
    const records = (await db.scan('gw-1', 1, 10)).filter((r) => r.kind === 'event');
    expect(records).toHaveLength(2);
    for (const record of records) expect(openEventBody(record, cipher).unreadable).toEqual([]);
    expect(records[0]!.body).toContain(rotated.previous);
    expect(records[1]!.body).toContain(rotated.kid);
  });

  it('HMAC and signing key rotation keeps old records verifiable', async () => {
    const db = store();
    const keys = newKeys();
    const before = openWriter(db, keys, { checkpoint: { every: 2, interval: 3_600_000 } });
    await before.appendEvents([sampleEvent(1), sampleEvent(2)]);
    await before.flush();
    rotateAuditKey(keys.dir, 'hmac');
    rotateAuditKey(keys.dir, 'signing');
    const reloaded = loadAuditKeys({ dir: keys.dir, env: {} });
    expect(reloaded.hmac.current.kid).not.toBe(keys.hmac.current.kid);
    const after = openWriter(db, reloaded, { checkpoint: { every: 2, interval: 3_600_000 } });
    logs.push(after);
    await after.appendEvents([sampleEvent(3), sampleEvent(4)]);
    await after.flush();
    const kids = new Set((await db.scan('gw-1', 1, 20)).map((r) => r.hmacKid));
    expect(kids.size).toBe(2);
    const report = await verifyAuditLog({
      store: db,
      publicKeys: reloaded.signing.publicKeyById,
      hmacKeys: reloaded.hmac,
    });
    expect(report.ok).toBe(true);
    expect(report.chains[0]!.checkpoints).toBe(2);
  });
});
