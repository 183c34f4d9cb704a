import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

import type { SecurityEvent } from '../events/schema.js';
import type { RecordCipher } from './encryption.js';

/**
 * A local file that keeps events while the audit store is unreachable, one JSON line per
 * event, synced to disk before an append is acknowledged. With a cipher each line is
 * encrypted whole, so the spool contains no more plaintext than the log itself.
 *
 * Replay is at least once: the replayed offset is stored (and synced) after each committed
 * batch, so a crash between a commit and that write replays the batch again. Such duplicates
 * keep their event id.
 */

const SPOOL_AAD = Buffer.from('bulwark-audit-spool', 'utf8');

export class EventSpool {
  private fd: number | undefined;
  private size: number;
  private readonly offsetFile: string;

  constructor(
    readonly path: string,
    readonly maxBytes: number,
    private readonly cipher: RecordCipher | undefined,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.offsetFile = `${path}.offset`;
    this.fd = openSync(path, 'a+', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** Unreplayed bytes; 0 when every spooled event is in the store. */
  get pending(): number {
    return Math.max(0, this.size - this.readOffset());
  }

  /**
   * Appends events and syncs the file. Returns false, writing nothing, when they would grow
   * the spool past `maxBytes`.
   */
  write(events: readonly SecurityEvent[]): boolean {
    let chunk = '';
    for (const event of events) chunk += `${this.encode(event)}\n`;
    const bytes = Buffer.byteLength(chunk);
    if (this.size + bytes > this.maxBytes) return false;
    const fd = this.handle();
    writeSync(fd, chunk);
    fsyncSync(fd);
    this.size += bytes;
    return true;
  }

  /**
   * Reads up to `max` events after the replayed offset. Returns them with the offset that
   * marks them replayed.
   */
  read(max: number): { events: SecurityEvent[]; end: number } {
    const start = this.readOffset();
    const length = Math.min(this.size - start, 8 * 1024 * 1024);
    if (length <= 0) return { events: [], end: start };
    const buffer = Buffer.alloc(length);
    readSync(this.handle(), buffer, 0, length, start);
    const events: SecurityEvent[] = [];
    let position = 0;
    while (events.length < max) {
      const newline = buffer.indexOf(10, position);
      if (newline < 0) break;
      const line = buffer.subarray(position, newline).toString('utf8');
      position = newline + 1;
      if (line.length > 0) events.push(this.decode(line));
    }
    return { events, end: start + position };
  }

  /** Marks events up to `end` replayed; empties the spool once all are. */
  markReplayed(end: number): void {
    if (end >= this.size) {
      this.clear();
      return;
    }
    const temporary = `${this.offsetFile}.tmp`;
    writeFileSync(temporary, String(end), { mode: 0o600, flush: true });
    renameSync(temporary, this.offsetFile);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private clear(): void {
    this.close();
    // Truncate through a fresh open, then drop the offset: a crash in between leaves an
    // empty spool with a stale offset, which `readOffset` treats as 0.
    closeSync(openSync(this.path, 'w', 0o600));
    rmSync(this.offsetFile, { force: true });
    this.size = 0;
    this.fd = openSync(this.path, 'a+', 0o600);
  }

  private readOffset(): number {
    try {
      const offset = Number(readFileSync(this.offsetFile, 'utf8'));
      return Number.isSafeInteger(offset) && offset >= 0 && offset <= this.size ? offset : 0;
    } catch {
      return 0;
    }
  }

  private handle(): number {
    this.fd ??= openSync(this.path, 'a+', 0o600);
    return this.fd;
  }

  private encode(event: SecurityEvent): string {
    const json = JSON.stringify(event);
    return this.cipher ? this.cipher.encrypt(Buffer.from(json), SPOOL_AAD) : json;
  }

  private decode(line: string): SecurityEvent {
    const json = line.startsWith('{')
      ? line
      : this.cipher!.decrypt(line, SPOOL_AAD).toString('utf8');
    return JSON.parse(json) as SecurityEvent;
  }
}
