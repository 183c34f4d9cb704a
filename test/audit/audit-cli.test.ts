import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportPublicKeys, generateAuditKeys, loadAuditKeys } from '../../src/audit/keys.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { CliProcess, runCli } from '../helpers/cli.js';
import { openWriter, removeTempDirs, sampleEvent, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

/** Creates a data directory with a closed log of 30 events, and its configuration file. */
async function dataDir(): Promise<{ dir: string; config: string }> {
  const dir = tempDir();
  const keysDir = join(dir, 'audit-keys');
  generateAuditKeys(keysDir);
  const keys = loadAuditKeys({ dir: keysDir, env: {} });
  const log = openWriter(new SqliteAuditStore({ path: join(dir, 'audit.db') }), keys, {
    instance: 'gw-cli',
    checkpoint: { every: 10, interval: 3_600_000 },
  });
  for (let n = 1; n <= 30; n += 1) await log.appendEvents([sampleEvent(n)]);
  await log.close();
  const config = join(dir, 'bulwark.yaml');
  writeFileSync(
    config,
    `upstream: http://127.0.0.1:9\ndataDir: ${dir}\naudit:\n  instance: gw-cli\n`,
  );
  return { dir, config };
}

describe('bulwark audit CLI', () => {
  let clean: { dir: string; config: string };

  beforeAll(async () => {
    clean = await dataDir();
  });

  it('verify reports OK with exit status 0', async () => {
    const result = await runCli(['audit', 'verify', '--config', clean.config]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OK: 3\d records checked in .* records\/s/m);
    // stderr is a pipe here, not a terminal: no progress bar.
    expect(result.stderr).not.toContain('records/s');
  });

  it('verify of a missing log fails and creates nothing', async () => {
    const dir = tempDir();
    const config = join(dir, 'bulwark.yaml');
    writeFileSync(config, `upstream: http://127.0.0.1:9\ndataDir: ${join(dir, 'data')}\n`);
    const pem = join(clean.dir, 'public.pem');
    writeFileSync(
      pem,
      exportPublicKeys(loadAuditKeys({ dir: join(clean.dir, 'audit-keys'), env: {} })),
    );
    const result = await runCli(['audit', 'verify', '--config', config, '--public-key', pem]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(join(dir, 'data', 'audit.db'));
    expect(result.stderr).toContain('does not exist');
    expect(existsSync(join(dir, 'data', 'audit.db'))).toBe(false);
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('verify from a wrong folder creates nothing', async () => {
    const cwd = tempDir();
    const pem = join(clean.dir, 'public.pem');
    writeFileSync(
      pem,
      exportPublicKeys(loadAuditKeys({ dir: join(clean.dir, 'audit-keys'), env: {} })),
    );
    const result = await runCli(['audit', 'verify', '--public-key', pem], cwd);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('does not exist');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('verify of an emptied log fails', async () => {
    const { dir, config } = await dataDir();
    const store = new SqliteAuditStore({ path: join(dir, 'audit.db') });
    store.database.prepare('DELETE FROM audit_records').run();
    await store.close();
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('the log has no records');
    expect(result.stdout).not.toMatch(/^OK/m);
    const allowed = await runCli(['audit', 'verify', '--config', config, '--allow-empty']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/^OK: 0 records/m);
  });

  it('verify of an emptied log is truncated', async () => {
    const { dir } = await dataDir();
    const external = tempDir('bwk-audit-external-');
    const config = join(dir, 'bulwark-external.yaml');
    writeFileSync(
      config,
      `upstream: http://127.0.0.1:9\ndataDir: ${dir}\naudit:\n  instance: gw-cli\n  checkpoint:\n    externalDir: ${external}\n`,
    );
    const keys = loadAuditKeys({ dir: join(dir, 'audit-keys'), env: {} });
    const log = openWriter(new SqliteAuditStore({ path: join(dir, 'audit.db') }), keys, {
      instance: 'gw-cli',
      checkpoint: { every: 5, interval: 3_600_000, externalDir: external },
    });
    for (let n = 1; n <= 10; n += 1) await log.appendEvents([sampleEvent(n)]);
    await log.close();
    const store = new SqliteAuditStore({ path: join(dir, 'audit.db') });
    store.database.prepare('DELETE FROM audit_records').run();
    await store.close();
    const result = await runCli(['audit', 'verify', '--config', config, '--allow-empty']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/DAMAGED: truncated at record 1: records 1–\d+ are missing/);
  });

  it('verify of a tampered log exits 1 and names the damage', async () => {
    const { dir, config } = await dataDir();
    const store = new SqliteAuditStore({ path: join(dir, 'audit.db') });
    store.database.prepare("UPDATE audit_records SET severity = 'info' WHERE seq = 7").run();
    await store.close();
    const result = await runCli(['audit', 'verify', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('DAMAGED: modified at record 7');
  });

  it('verify with only the public key', async () => {
    const keys = loadAuditKeys({ dir: join(clean.dir, 'audit-keys'), env: {} });
    const pem = join(tempDir(), 'audit-public.pem');
    writeFileSync(pem, exportPublicKeys(keys));
    const result = await runCli([
      'audit',
      'verify',
      '--config',
      clean.config,
      '--public-key',
      pem,
      '--no-hmac',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; hmacChecked: boolean };
    expect(report.ok).toBe(true);
    expect(report.hmacChecked).toBe(false);
  });

  it('verify --no-hmac names the unsigned tail', async () => {
    // Dropping the closing checkpoint leaves records that only the chain protects. A holder
    // of the public key alone cannot tell them from a forgery, so the report names them.
    const { dir, config } = await dataDir();
    const store = new SqliteAuditStore({ path: join(dir, 'audit.db') });
    const { last } = store.database
      .prepare("SELECT max(seq) AS last FROM audit_records WHERE kind = 'checkpoint'")
      .get() as { last: number };
    store.database.prepare('DELETE FROM audit_records WHERE seq >= ?').run(last);
    await store.close();
    const ownPem = join(dir, 'public.pem');
    writeFileSync(
      ownPem,
      exportPublicKeys(loadAuditKeys({ dir: join(dir, 'audit-keys'), env: {} })),
    );
    const text = await runCli([
      'audit',
      'verify',
      '--config',
      config,
      '--public-key',
      ownPem,
      '--no-hmac',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /NOT VERIFIED: records? \d+(\.\.\d+ \(\d+\) come| comes) after the last signed checkpoint/,
    );
    expect(text.stdout).toContain('Without the HMAC key nothing proves');
  });

  it('tail prints the newest records decrypted', async () => {
    const result = await runCli([
      'audit',
      'tail',
      '--config',
      clean.config,
      '-n',
      '5',
      '--type',
      'auth.failure',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            type: string;
            event: { actor: { ip: string } };
          },
      );
    expect(lines).toHaveLength(5);
    expect(lines.every((line) => line.type === 'auth.failure')).toBe(true);
    expect(lines[0]!.event.actor.ip).toMatch(/^192\.0\.2\./);
  });

  it('tail --follow prints new records', async () => {
    const { dir, config } = await dataDir();
    const cli = new CliProcess(['audit', 'tail', '--config', config, '-n', '1', '--follow']);
    try {
      await expect.poll(() => cli.stdout, { timeout: 15_000 }).toContain('gw-cli#');
      const keys = loadAuditKeys({ dir: join(dir, 'audit-keys'), env: {} });
      const log = openWriter(new SqliteAuditStore({ path: join(dir, 'audit.db') }), keys, {
        instance: 'gw-cli',
      });
      await log.appendEvents([sampleEvent(999)]);
      await log.flush();
      await expect.poll(() => cli.stdout, { timeout: 15_000 }).toContain('/orders/999');
      await log.close();
    } finally {
      cli.kill();
      await cli.exited;
    }
  });

  it('tail rejects an unknown severity', async () => {
    const result = await runCli(['audit', 'tail', '--config', clean.config, '--severity', 'loud']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --severity');
  });

  it('export writes CSV for a time range', async () => {
    const result = await runCli([
      'audit',
      'export',
      '--config',
      clean.config,
      '--since',
      sampleEvent(10).time,
      '--until',
      sampleEvent(20).time,
      '--format',
      'csv',
    ]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'instance,seq,time,type,category,severity,outcome,actor_type,actor_id,actor_ip,method,path,correlation_id,details,hash',
    );
    expect(lines).toHaveLength(11);
    expect(lines[1]).toContain('/orders/10');
  });

  it('export writes JSON lines', async () => {
    const result = await runCli(['audit', 'export', '--config', clean.config]);
    expect(result.code).toBe(0);
    const records = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number });
    expect(records.map((record) => record.seq)).toEqual(records.map((_, i) => i + 1));
  });

  it('prove prints a verifying proof', async () => {
    const result = await runCli(['audit', 'prove', '3', '--config', clean.config]);
    expect(result.code).toBe(0);
    const proof = JSON.parse(result.stdout) as {
      record: { seq: number };
      checkpoint: { root: string };
    };
    expect(proof.record.seq).toBe(3);
    expect(proof.checkpoint.root).toMatch(/^[0-9a-f]{64}$/);
  });
});
