import { Worker } from 'node:worker_threads';

import type Database from 'better-sqlite3';

import { silentLogger, type Logger } from '../core/logger.js';

/**
 * Moves the WAL checkpoints of a busy audit SQLite file to a worker thread.
 *
 * SQLite checkpoints on the committing connection by default, once the WAL passes 1,000
 * pages: that commit copies the WAL into the database file and syncs both, and every append
 * queued behind it waits. Once `START_AFTER_ROWS` rows were appended through this
 * connection, a worker opens the file, the store turns its own automatic checkpoints off,
 * and the worker runs a PASSIVE checkpoint every `ROWS_PER_CHECKPOINT` rows. PASSIVE never
 * takes the write lock, so appends continue meanwhile. If the worker cannot start or a
 * checkpoint fails, the store checkpoints on its own connection again, as before.
 */

/** Rows before the worker starts; short-lived stores (tests, CLI commands) never start it. */
const START_AFTER_ROWS = 2000;
/**
 * About 1,000 WAL pages, SQLite's automatic checkpoint size, estimated at 2 to 3 audit rows
 * (an event of about 1 KB and its three index entries) per 4 KB page.
 */
const ROWS_PER_CHECKPOINT = 2000;
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/**
 * The worker, a plain JavaScript file beside this module: the build copies it to dist/audit,
 * and under vitest or tsx it loads from src/audit, so tests and benchmarks run it too.
 */
const WORKER_FILE = new URL('./wal-checkpoint-worker.mjs', import.meta.url);

type State = 'idle' | 'starting' | 'ready' | 'busy' | 'failed' | 'closed';

interface WorkerMessage {
  ready?: boolean;
  done?: boolean;
  error?: string;
}

export class BackgroundWalCheckpoints {
  private state: State = 'idle';
  private worker: Worker | undefined;
  private rows = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    private readonly synchronous: 'FULL' | 'NORMAL',
    private readonly logger: Logger = silentLogger,
  ) {}

  /** Counts appended rows; starts the worker, or asks it for a checkpoint, when they add up. */
  noteAppended(rows: number): void {
    this.rows += rows;
    if (this.state === 'idle' && this.rows >= START_AFTER_ROWS) {
      this.rows = 0;
      this.start();
    } else if (this.state === 'ready' && this.rows >= ROWS_PER_CHECKPOINT) {
      this.rows = 0;
      this.state = 'busy';
      this.worker!.postMessage('checkpoint');
    }
  }

  /** Whether a worker checkpoints this file; false before it starts and after a failure. */
  get active(): boolean {
    return this.state === 'ready' || this.state === 'busy';
  }

  /** Whether the worker failed and the store's connection checkpoints again. */
  get failed(): boolean {
    return this.state === 'failed';
  }

  /** Stops the worker and waits for it to close its connection. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.state = 'closed';
    this.worker = undefined;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Referenced again, so that the process waits for the worker to close its connection.
    worker.ref();
    worker.postMessage('close');
    // The worker ends when its port closes; terminate is the fallback if it hangs.
    const timeout = setTimeout(() => void worker.terminate(), 2000).unref();
    await exited;
    clearTimeout(timeout);
  }

  private start(): void {
    this.state = 'starting';
    let worker: Worker;
    try {
      worker = new Worker(WORKER_FILE, {
        workerData: { path: this.path, synchronous: this.synchronous },
      });
    } catch (error) {
      this.fail(error);
      return;
    }
    worker.unref();
    this.worker = worker;
    worker.on('message', (message: WorkerMessage) => this.onMessage(message));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`worker exited with code ${code}`)));
  }

  private onMessage(message: WorkerMessage): void {
    if (message.error !== undefined) {
      this.fail(new Error(message.error));
    } else if (message.ready === true && this.state === 'starting') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.state = 'ready';
      this.logger.info({ path: this.path }, 'audit WAL checkpoints moved to a worker thread');
    } else if (message.done === true && this.state === 'busy') {
      this.state = 'ready';
    }
  }

  /** Hands checkpoints back to the store's connection; nothing is lost, appends only slow. */
  private fail(error: unknown): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'failed';
    this.logger.warn(
      { err: error, path: this.path },
      'audit WAL checkpoint worker failed; checkpointing on the writer connection',
    );
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
