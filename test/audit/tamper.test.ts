import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { recordHash, type AuditRecord } from '../../src/audit/record.js';
import { signBody, type TombstoneBody } from '../../src/audit/signed.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { verifyAuditLog, type VerifyReport } from '../../src/audit/verify.js';
import { newKeys, openWriter, removeTempDirs, sampleEvent, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

/**
 * Tampering as an attacker with write access to the database file would do it, each case
 * checked for detection and for the kind of damage reported.
 */

const stores: SqliteAuditStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

interface Fixture {
  store: SqliteAuditStore;
  keys: ReturnType<typeof newKeys>;
  external: string;
  verify(options?: { hmac?: boolean; external?: boolean }): Promise<VerifyReport>;
  rows(): AuditRecord[];
  update(seq: number, columns: Partial<Record<keyof AuditRecord, string | number>>): void;
}

const COLUMN: Record<string, string> = { prevHash: 'prev_hash', hmacKid: 'hmac_kid' };

/** 20 events in batches of 4, a checkpoint after every 5 records, closed cleanly. */
async function fixture(): Promise<Fixture> {
  const path = join(tempDir(), 'audit.db');
  const keys = newKeys();
  const external = tempDir('bwk-audit-external-');
  const log = openWriter(new SqliteAuditStore({ path }), keys, {
    checkpoint: { every: 5, interval: 3_600_000, externalDir: external },
  });
  for (let n = 0; n < 20; n += 4) {
    await log.appendEvents([n, n + 1, n + 2, n + 3].map((i) => sampleEvent(i)));
  }
  await log.close();
  const store = new SqliteAuditStore({ path });
  stores.push(store);
  const db = store.database;
  return {
    store,
    keys,
    external,
    verify: (options = {}) =>
      verifyAuditLog({
        store,
        publicKeys: keys.signing.publicKeyById,
        hmacKeys: options.hmac === false ? undefined : keys.hmac,
        externalDir: options.external === true ? external : undefined,
      }),
    rows: () =>
      (
        db
          .prepare("SELECT * FROM audit_records WHERE instance = 'gw-1' ORDER BY seq")
          .all() as Array<Record<string, unknown>>
      ).map((row) => ({
        instance: row.instance as string,
        seq: Number(row.seq),
        kind: row.kind as AuditRecord['kind'],
        time: row.time as string,
        type: row.type as string,
        category: row.category as string,
        severity: row.severity as string,
        body: row.body as string,
        prevHash: row.prev_hash as string,
        hash: row.hash as string,
        hmac: row.hmac as string,
        hmacKid: row.hmac_kid as string,
      })),
    update: (seq, columns) => {
      const sets = Object.keys(columns).map((key) => `${COLUMN[key] ?? key} = @${key}`);
      db.prepare(
        `UPDATE audit_records SET ${sets.join(', ')} WHERE instance = 'gw-1' AND seq = @where`,
      ).run({
        ...columns,
        where: seq,
      });
    },
  };
}

function damageOf(report: VerifyReport) {
  return report.chains.find((chain) => chain.damage)?.damage;
}

describe('audit tamper detection', () => {
  it('untouched log verifies', async () => {
    const log = await fixture();
    const report = await log.verify({ external: true });
    expect(report.ok).toBe(true);
    expect(report.chains[0]!.checkpoints).toBe(3);
    expect(report.chains[0]!.externalCheckpoints).toBe(report.chains[0]!.checkpoints);
  });

  it('modified body is classified modified', async () => {
    const log = await fixture();
    const record = log.rows()[6]!;
    log.update(record.seq, { body: record.body.replace('/orders/', '/admin/') });
    const damage = damageOf(await log.verify());
    expect(damage?.kind).toBe('modified');
    expect(damage?.seq).toBe(record.seq);
  });

  it('modified severity column is classified modified', async () => {
    const log = await fixture();
    log.update(3, { severity: 'info' });
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'modified', seq: 3 });
  });

  it('modified record with recomputed hash is classified modified', async () => {
    const log = await fixture();
    const record = log.rows()[2]!;
    const changed = { ...record, severity: 'info' };
    log.update(record.seq, { severity: 'info', hash: recordHash(changed) });
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'modified', seq: record.seq });
  });

  it('changed ciphertext is classified modified', async () => {
    const log = await fixture();
    const record = log.rows()[1]!;
    const body = JSON.parse(record.body) as { event: { actor: { ip: string } } };
    body.event.actor.ip = `${body.event.actor.ip.slice(0, -4)}AAAA`;
    log.update(record.seq, { body: JSON.stringify(body) });
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'modified', seq: record.seq });
  });

  it('deleted record is classified deleted', async () => {
    const log = await fixture();
    log.store.database
      .prepare("DELETE FROM audit_records WHERE instance = 'gw-1' AND seq = 8")
      .run();
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'deleted', seq: 8 });
  });

  it('deleted and renumbered records are classified deleted', async () => {
    const log = await fixture();
    const db = log.store.database;
    db.prepare("DELETE FROM audit_records WHERE instance = 'gw-1' AND seq = 8").run();
    const later = log.rows().filter((r) => r.seq > 8);
    for (const record of later) log.update(record.seq, { seq: record.seq - 1 });
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'deleted', seq: 8 });
  });

  it('swapped records are classified reordered', async () => {
    const log = await fixture();
    log.update(3, { seq: 1000 });
    log.update(4, { seq: 3 });
    log.update(1000, { seq: 4 });
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'reordered', seq: 3 });
  });

  it('inserted record is classified inserted', async () => {
    const log = await fixture();
    const rows = log.rows();
    for (const record of [...rows].reverse().filter((r) => r.seq >= 5)) {
      log.update(record.seq, { seq: record.seq + 1 });
    }
    const forged = { ...rows[4]!, severity: 'info', prevHash: rows[3]!.hash, seq: 5 };
    forged.hash = recordHash(forged);
    forged.hmac = randomBytes(32).toString('hex');
    log.store.database
      .prepare(
        `INSERT INTO audit_records (instance, seq, kind, time, type, category, severity, body, prev_hash, hash, hmac, hmac_kid)
         VALUES (@instance, @seq, @kind, @time, @type, @category, @severity, @body, @prevHash, @hash, @hmac, @hmacKid)`,
      )
      .run(forged);
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'inserted', seq: 5 });
    // Without the HMAC key the inserted record itself looks valid; the next one exposes it.
    expect(damageOf(await log.verify({ hmac: false }))).toMatchObject({ kind: 'inserted', seq: 5 });
  });

  it('inserted copy is blamed, not its original', async () => {
    const log = await fixture();
    const rows = log.rows();
    const original = rows.find(
      (r, i) => r.kind === 'event' && r.seq > 6 && rows[i + 1]?.kind === 'event',
    )!;
    for (const record of [...rows].reverse().filter((r) => r.seq > original.seq)) {
      log.update(record.seq, { seq: record.seq + 1 });
    }
    // A copy with an edited body and a recomputed hash, linking where the original links.
    const copy = {
      ...original,
      seq: original.seq + 1,
      body: original.body.replace('/orders/', '/admin/'),
    };
    expect(copy.body).not.toBe(original.body);
    copy.hash = recordHash(copy);
    log.store.database
      .prepare(
        `INSERT INTO audit_records (instance, seq, kind, time, type, category, severity, body, prev_hash, hash, hmac, hmac_kid)
         VALUES (@instance, @seq, @kind, @time, @type, @category, @severity, @body, @prevHash, @hash, @hmac, @hmacKid)`,
      )
      .run(copy);
    for (const hmac of [true, false]) {
      const damage = damageOf(await log.verify({ hmac }));
      expect(damage).toMatchObject({ kind: 'inserted', seq: original.seq + 1 });
      expect(damage?.message).toContain(`record ${original.seq + 1} is not part of the chain`);
    }
  });

  it('truncated tail is classified truncated with external checkpoints', async () => {
    const log = await fixture();
    const last = log.rows().at(-1)!.seq;
    log.store.database
      .prepare("DELETE FROM audit_records WHERE instance = 'gw-1' AND seq > ?")
      .run(last - 8);
    const damage = damageOf(await log.verify({ external: true }));
    expect(damage?.kind).toBe('truncated');
    expect(damage?.seq).toBe(last - 7);
    // The message names the missing range, up to the newest externally signed checkpoint.
    const newest = Math.max(...externalSeqs(log.external));
    expect(newest).toBeGreaterThan(last - 8);
    expect(damage?.message).toBe(
      `records ${last - 7}–${newest} are missing: an external checkpoint signed the chain up to record ${newest}, the log ends at record ${last - 8}; the tail was removed`,
    );
  });

  it('emptied log fails, truncated with external checkpoints', async () => {
    const log = await fixture();
    log.store.database.prepare('DELETE FROM audit_records').run();
    const plain = await log.verify();
    expect(plain.ok).toBe(false);
    expect(plain.empty).toBe(true);
    expect(plain.chains.every((chain) => chain.damage === undefined)).toBe(true);
    const allowed = await verifyAuditLog({
      store: log.store,
      publicKeys: log.keys.signing.publicKeyById,
      allowEmpty: true,
    });
    expect(allowed.ok).toBe(true);
    const external = await log.verify({ external: true });
    expect(external.ok).toBe(false);
    expect(damageOf(external)).toMatchObject({ kind: 'truncated', seq: 1 });
    expect(damageOf(external)?.message).toContain('the log has no records of this chain');
  });

  it('truncated tail passes without external checkpoints', async () => {
    // The limit that external checkpoints exist for: a chain cut at its end is still a chain.
    const log = await fixture();
    const last = log.rows().at(-1)!.seq;
    log.store.database
      .prepare("DELETE FROM audit_records WHERE instance = 'gw-1' AND seq > ?")
      .run(last - 8);
    expect((await log.verify()).ok).toBe(true);
  });

  it('re-chained forgery is classified forged', async () => {
    const log = await fixture();
    rechain(log, (record) => (record.seq === 2 ? { ...record, severity: 'info' } : record));
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'forged', seq: 2 });
  });

  it('re-chained forgery fails checkpoints without the HMAC key', async () => {
    const log = await fixture();
    rechain(log, (record) => (record.seq === 2 ? { ...record, severity: 'info' } : record));
    const damage = damageOf(await log.verify({ hmac: false }));
    expect(damage?.kind).toBe('forged');
    expect(damage?.message).toContain('checkpoint');
  });

  it('altered checkpoint signature is classified forged', async () => {
    const log = await fixture();
    const checkpoint = log.rows().find((r) => r.kind === 'checkpoint')!;
    const body = JSON.parse(checkpoint.body) as { count: number };
    body.count += 1;
    const changed = { ...checkpoint, body: JSON.stringify(body) };
    rechain(log, (record) => (record.seq === checkpoint.seq ? changed : record));
    const damage = damageOf(await log.verify({ hmac: false }));
    expect(damage).toMatchObject({ kind: 'forged', seq: checkpoint.seq });
  });

  it('tombstone signed by another key cannot excuse a deletion', async () => {
    const log = await fixture();
    const rows = log.rows();
    const attacker = newKeys();
    const body = signBody<TombstoneBody>(
      {
        instance: 'gw-1',
        reason: 'retention',
        categories: { violation: 7 },
        removed: [{ fromSeq: 8, toSeq: 8, count: 1, lastHash: rows[7]!.hash }],
        archive: 'none',
        archiveTarget: 'folder',
        time: new Date().toISOString(),
        kid: log.keys.signing.kid,
      },
      attacker.signing.privateKey,
    );
    const last = rows.at(-1)!;
    const tombstone = {
      ...last,
      seq: last.seq + 1,
      kind: 'tombstone' as const,
      type: 'audit.tombstone',
      body: JSON.stringify(body),
      prevHash: last.hash,
    };
    tombstone.hash = recordHash(tombstone);
    log.store.database
      .prepare(
        `INSERT INTO audit_records (instance, seq, kind, time, type, category, severity, body, prev_hash, hash, hmac, hmac_kid)
         VALUES (@instance, @seq, @kind, @time, @type, @category, @severity, @body, @prevHash, @hash, @hmac, @hmacKid)`,
      )
      .run(tombstone);
    log.store.database
      .prepare("DELETE FROM audit_records WHERE instance = 'gw-1' AND seq = 8")
      .run();
    expect(damageOf(await log.verify())).toMatchObject({ kind: 'forged' });
  });

  it('rollback to an older log is detected by external checkpoints', async () => {
    const log = await fixture();
    const checkpoint = log.rows().find((r) => r.kind === 'checkpoint' && r.seq > 10)!;
    rechain(log, (record) =>
      record.seq === checkpoint.seq - 1 ? { ...record, type: 'x.y' } : record,
    );
    const damage = damageOf(await log.verify({ hmac: false, external: true }));
    expect(damage?.kind).toBeDefined();
    expect(['forged', 'modified']).toContain(damage?.kind);
  });

  it('damage in one chain leaves the others verified', async () => {
    const log = await fixture();
    const other = openWriter(log.store, log.keys, { instance: 'gw-2' });
    await other.appendEvents([sampleEvent(100)]);
    await other.flush();
    log.update(2, { type: 'auth.success' });
    const report = await log.verify();
    expect(report.ok).toBe(false);
    const second = report.chains.find((chain) => chain.instance === 'gw-2')!;
    expect(second.damage).toBeUndefined();
    expect(second.records).toBe(1);
  });
});

/**
 * Rewrites the chain from its first record as an attacker without the HMAC key would: each
 * record changed by `change`, every hash and link recomputed, HMACs left as they were.
 */
function rechain(log: Fixture, change: (record: AuditRecord) => AuditRecord): void {
  let prevHash = '0'.repeat(64);
  for (const original of log.rows()) {
    const record = { ...change(original), prevHash };
    record.hash = recordHash(record);
    log.update(original.seq, {
      type: record.type,
      severity: record.severity,
      body: record.body,
      prevHash: record.prevHash,
      hash: record.hash,
    });
    prevHash = record.hash;
  }
}

/** Lists the seqs of the external checkpoint files of chain gw-1. */
function externalSeqs(dir: string): number[] {
  const folder = readdirSync(dir)[0]!;
  return readdirSync(join(dir, folder)).map((name) => Number(name.replace('.json', '')));
}
