import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';

import { StoreUnavailableError } from '../../src/core/errors.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { createSqliteCredentialStores } from '../../src/storage/sqlite-credentials.js';

const PEPPER = randomBytes(32).toString('base64');
const WRITER = fileURLToPath(new URL('./fixtures/sqlite-writer.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const dirs: string[] = [];
const opened: CredentialStores[] = [];

afterEach(async () => {
  for (const stores of opened.splice(0)) await stores.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bwk-sqlite-'));
  dirs.push(dir);
  return dir;
}

function open(path: string, busyTimeoutMs?: number): CredentialStores {
  const stores = createSqliteCredentialStores({ path, pepper: PEPPER, busyTimeoutMs });
  opened.push(stores);
  return stores;
}

/** Runs the writer fixture in its own process and resolves with the key ids it created. */
function runWriter(path: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', TSX_LOADER, WRITER, path, PEPPER, String(count)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as string[]);
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

describe('sqlite credential file', () => {
  it('new file is WAL and owner-only', async () => {
    const path = join(tempDir(), 'nested', 'credentials.db');
    const stores = open(path);

    await stores.ready();

    expect(statSync(path).mode & 0o777).toBe(0o600);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(2);
    } finally {
      db.close();
    }
  });

  it('second process writes meanwhile', async () => {
    const path = join(tempDir(), 'credentials.db');
    const stores = open(path);
    const own = await stores.apiKeys.create({ env: 'test', name: 'parent', owner: 'parent' });

    const writer = runWriter(path, 40);
    let finished = false;
    void writer.finally(() => (finished = true)).catch(() => undefined);
    let rounds = 0;
    while (!finished) {
      await stores.apiKeys.touchLastUsed([own.record.id], Date.now());
      await stores.apiKeys.create({ env: 'test', name: `parent ${rounds}`, owner: 'parent' });
      expect(await stores.apiKeys.findById(own.record.id)).toBeDefined();
      rounds += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const childIds = await writer;

    const childKeys = await stores.apiKeys.list({ owner: 'child' });
    expect(childKeys.map((record) => record.id).filter((id) => childIds.includes(id))).toHaveLength(
      childIds.length,
    );
    expect(childKeys.filter((record) => record.status === 'rotated')).toHaveLength(8);
    expect(await stores.apiKeys.list({ owner: 'parent' })).toHaveLength(rounds + 1);
  });

  it('held write lock fails writes, not reads', async () => {
    const path = join(tempDir(), 'credentials.db');
    const stores = open(path, 50);
    const { record } = await stores.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');

    try {
      const created = stores.apiKeys.create({ env: 'test', name: 'blocked', owner: 'o' });

      await expect(created).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(created).rejects.toThrow(/database is locked/);
      expect((await stores.apiKeys.findById(record.id))?.id).toBe(record.id);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  it('a different pepper is refused before any key is checked', async () => {
    const path = join(tempDir(), 'credentials.db');
    const first = open(path);
    await first.ready();
    await first.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });
    await first.close();

    const other = createSqliteCredentialStores({ path, pepper: 'q'.repeat(32) });
    await expect(other.ready()).rejects.toMatchObject({ code: 'BWK_ERR_CONFIG_INVALID' });
    await expect(other.ready()).rejects.toThrow(/pepper differs/);
    await other.close();

    await expect(open(path).ready()).resolves.toBeUndefined();
  });

  it('newer schema is refused', async () => {
    const path = join(tempDir(), 'credentials.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();

    const ready = open(path).ready();

    await expect(ready).rejects.toMatchObject({ code: 'BWK_ERR_STORE_SCHEMA' });
    await expect(ready).rejects.toThrow(/schema version 99, but this Bulwark supports up to 2/);
  });

  it('unusable path is unavailable', async () => {
    const file = join(tempDir(), 'not-a-directory');
    writeFileSync(file, '');

    const ready = open(join(file, 'credentials.db')).ready();

    await expect(ready).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(ready).rejects.toThrow(/not-a-directory/);
  });
});
