import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { BackgroundWalCheckpoints } from '../../src/audit/wal-checkpoint.js';
import { removeTempDirs, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Opens a WAL-mode file with one table, as the audit store does, and its checkpointer. */
function openFile(path = join(tempDir(), 'audit.db')) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const checkpoints = new BackgroundWalCheckpoints(db, path, 'NORMAL');
  cleanups.push(async () => {
    await checkpoints.close();
    db.close();
  });
  const insert = db.prepare('INSERT INTO rows (body) VALUES (?)');
  const append = db.transaction((count: number) => {
    for (let n = 0; n < count; n += 1) insert.run('x'.repeat(500));
  });
  return { db, path, checkpoints, append };
}

function autocheckpoint(db: Database.Database): number {
  return db.pragma('wal_autocheckpoint', { simple: true }) as number;
}

describe('background WAL checkpoints', () => {
  it('worker starts only once the log is busy', async () => {
    const { db, checkpoints } = openFile();
    checkpoints.noteAppended(100);
    expect(checkpoints.active).toBe(false);
    checkpoints.noteAppended(5000);
    await expect.poll(() => checkpoints.active, { timeout: 10_000 }).toBe(true);
    expect(autocheckpoint(db)).toBe(0);
  });

  it('worker copies the WAL into the database file', async () => {
    const { path, checkpoints, append } = openFile();
    checkpoints.noteAppended(5000);
    await expect.poll(() => checkpoints.active, { timeout: 10_000 }).toBe(true);
    append(3000);
    const before = statSync(path).size;
    checkpoints.noteAppended(3000);
    await expect.poll(() => statSync(path).size, { timeout: 10_000 }).toBeGreaterThan(before);
    expect(statSync(path).size).toBeGreaterThan(3000 * 500);
  });

  it('failed worker hands checkpoints back', async () => {
    // The worker opens the file with fileMustExist, so a path that is not there fails it.
    const db = new Database(':memory:');
    db.pragma('wal_autocheckpoint = 1000');
    const checkpoints = new BackgroundWalCheckpoints(db, join(tempDir(), 'missing.db'), 'FULL');
    cleanups.push(async () => {
      await checkpoints.close();
      db.close();
    });
    checkpoints.noteAppended(5000);
    await expect.poll(() => checkpoints.failed, { timeout: 10_000 }).toBe(true);
    expect(checkpoints.active).toBe(false);
    expect(autocheckpoint(db)).toBe(1000);
  });

  it('worker exit hands checkpoints back', async () => {
    const { db, checkpoints } = openFile();
    checkpoints.noteAppended(5000);
    await expect.poll(() => checkpoints.active, { timeout: 10_000 }).toBe(true);
    expect(autocheckpoint(db)).toBe(0);
    // Ends the thread as a crash would; the worker is private to the class.
    await (checkpoints as unknown as { worker: Worker }).worker.terminate();
    await expect.poll(() => checkpoints.failed, { timeout: 10_000 }).toBe(true);
    expect(autocheckpoint(db)).toBe(1000);
  });

  it('close waits for the worker to exit', async () => {
    const { checkpoints } = openFile();
    checkpoints.noteAppended(5000);
    await expect.poll(() => checkpoints.active, { timeout: 10_000 }).toBe(true);
    await checkpoints.close();
    expect(checkpoints.active).toBe(false);
  });
});
