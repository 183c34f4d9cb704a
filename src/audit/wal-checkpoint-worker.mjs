// The WAL checkpoint worker of the SQLite audit store (see wal-checkpoint.ts). Plain
// JavaScript, not TypeScript, so that the same file runs from the compiled package (the build
// copies it to dist/audit) and from the sources under vitest or tsx, whose loader hooks Node 20
// does not pass on to workers. It imports only Node built-ins and better-sqlite3.
//
// It opens the file on its own connection and runs a PASSIVE checkpoint per 'checkpoint'
// message until 'close'. Messages out: { ready: true } once the file is open, { done: true }
// after each checkpoint, { error } when opening or a checkpoint failed.
import { parentPort, workerData } from 'node:worker_threads';

import Database from 'better-sqlite3';

const port = parentPort;
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma(`synchronous = ${workerData.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('wal_autocheckpoint = 0');
  port.postMessage({ ready: true });
} catch (error) {
  port.postMessage({ error: String(error) });
}

port.on('message', (message) => {
  if (message === 'close' || db === undefined) {
    if (db !== undefined && db.open) db.close();
    port.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    port.postMessage({ done: true });
  } catch (error) {
    port.postMessage({ error: String(error) });
  }
});
