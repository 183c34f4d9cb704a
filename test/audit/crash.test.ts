import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { newKeys, openWriter, removeTempDirs, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

const CHILD = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('audit writer crash', () => {
  it('kill -9 under load loses no acknowledged record', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.db');
    const spool = join(dir, 'spool.jsonl');
    const keys = newKeys();
    const child = spawn(process.execPath, ['--import', TSX, CHILD, path, keys.dir, spool], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const enough = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) if (line.startsWith('ack ')) acked.push(line.slice(4));
        if (acked.length >= 3000) resolve();
      });
      child.once('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
    });
    await enough;
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await exited;
    // Lines the child wrote before the kill may still have been in the pipe.
    for (const line of buffered.split('\n')) if (line.startsWith('ack ')) acked.push(line.slice(4));

    const store = new SqliteAuditStore({ path });
    const stored = new Set(
      (await store.query({ limit: 1_000_000 }))
        .filter((record) => record.kind === 'event')
        .map((record) => (JSON.parse(record.body) as { event: { id: string } }).event.id),
    );
    const missing = acked.filter((id) => !stored.has(id));
    expect(missing).toEqual([]);

    // Restart: the next writer continues the chain, and the whole log verifies.
    const restarted = openWriter(store, keys, {
      instance: 'crash',
      spool: { file: spool, maxBytes: 64 * 1024 * 1024, retryInterval: 100 },
    });
    await restarted.open();
    await restarted.close();
    const reopened = new SqliteAuditStore({ path });
    const report = await verifyAuditLog({
      store: reopened,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    await reopened.close();
    expect(report.chains[0]?.damage).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.records).toBeGreaterThanOrEqual(acked.length);
  }, 60_000);
});
