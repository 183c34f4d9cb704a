/**
 * Upload storage: files under random names (UUIDs, never the client's name), mode 0o600 so
 * no file is executable or readable by other users, in folders of mode 0o700. Each file has
 * a JSON record beside it (`<id>.json`) with its SHA-256 and status. Rejected files go to
 * the quarantine folder with the reason, so an operator can inspect them.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The metadata recorded about a stored file. */
export interface StoredFile {
  /** Random UUID, also the file name on disk. */
  id: string;
  /** The form field the file came in. */
  field: string;
  /** The client's file name, kept as data only; it never names anything on disk. */
  name: string;
  size: number;
  /** Hex SHA-256 of the stored bytes (after CSV neutralisation, if any). */
  sha256: string;
  /** The media type the checks agreed on. */
  type: string;
  /** Set when the file passed with something worth knowing, e.g. `csv_formula`. */
  flags?: string[];
}

/** The record written beside a file. */
export interface StoredRecord extends StoredFile {
  status: 'accepted' | 'pending_scan' | 'rejected' | 'condemned';
  reason?: string;
  /** The malware signature, for a condemned file. */
  signature?: string;
  receivedAt: string;
  updatedAt: string;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export class UploadStorage {
  private ready: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly quarantineDir: string,
  ) {}

  /** Creates both folders (mode 0o700) once. */
  prepare(): Promise<void> {
    this.ready ??= (async () => {
      for (const dir of [this.dir, this.quarantineDir]) {
        await mkdir(dir, { recursive: true, mode: DIR_MODE });
        await chmod(dir, DIR_MODE);
      }
    })();
    return this.ready;
  }

  /** Returns a new id and a write stream for it in the storage folder. */
  create(): { id: string; path: string; stream: WriteStream } {
    const id = randomUUID();
    const path = join(this.dir, id);
    // `wx`: a UUID collision, or anything already at the path, fails rather than overwrites.
    const stream = createWriteStream(path, { flags: 'wx', mode: FILE_MODE });
    return { id, path, stream };
  }

  pathOf(id: string): string {
    return join(this.dir, id);
  }

  quarantinePathOf(id: string): string {
    return join(this.quarantineDir, id);
  }

  /** Replaces a stored file's bytes, as CSV neutralisation does. */
  async rewrite(id: string, bytes: Buffer): Promise<void> {
    await writeFile(this.pathOf(id), bytes, { mode: FILE_MODE });
  }

  /** Writes the record of an accepted file beside it. */
  async recordAccepted(file: StoredFile, receivedAt: string): Promise<void> {
    await writeRecord(this.dir, { ...file, status: 'accepted', receivedAt, updatedAt: receivedAt });
  }

  /**
   * Moves a file into the quarantine folder with its record: `pending_scan` waits for the
   * scanner, `rejected` and `condemned` stay for an operator.
   */
  async quarantine(
    file: StoredFile,
    status: 'pending_scan' | 'rejected' | 'condemned',
    receivedAt: string,
    extra: { reason?: string; signature?: string } = {},
  ): Promise<void> {
    await rename(this.pathOf(file.id), this.quarantinePathOf(file.id));
    const now = new Date().toISOString();
    await writeRecord(this.quarantineDir, {
      ...file,
      status,
      ...extra,
      receivedAt,
      updatedAt: now,
    });
  }

  /** Moves a quarantined file that passed its scan to the storage folder. */
  async release(record: StoredRecord): Promise<void> {
    await rename(this.quarantinePathOf(record.id), this.pathOf(record.id));
    await writeRecord(this.dir, {
      ...record,
      status: 'accepted',
      updatedAt: new Date().toISOString(),
    });
    await rm(join(this.quarantineDir, `${record.id}.json`), { force: true });
  }

  /** Marks a quarantined file as malware. The file stays in quarantine. */
  async condemn(record: StoredRecord, signature: string): Promise<void> {
    await writeRecord(this.quarantineDir, {
      ...record,
      status: 'condemned',
      // The same reason as a file condemned when it arrived, so records read alike.
      reason: 'malware',
      signature,
      updatedAt: new Date().toISOString(),
    });
  }

  /** Lists the quarantined files that wait for a scan. */
  async pending(): Promise<StoredRecord[]> {
    const names = await readdir(this.quarantineDir).catch(() => [] as string[]);
    const records: StoredRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const record = await readRecord(join(this.quarantineDir, name));
      if (record?.status === 'pending_scan') records.push(record);
    }
    return records;
  }

  /** Removes a file that will never be kept, such as one cut off at its size limit. */
  async discard(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true });
  }

  /** Removes an accepted file and its record, after it was forwarded in the body. */
  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true });
    await rm(join(this.dir, `${id}.json`), { force: true });
  }

  /** Removes a quarantined file and its record, such as one of a request rejected later. */
  async removeQuarantined(id: string): Promise<void> {
    await rm(this.quarantinePathOf(id), { force: true });
    await rm(join(this.quarantineDir, `${id}.json`), { force: true });
  }

  async read(id: string): Promise<Buffer> {
    return readFile(this.pathOf(id));
  }
}

async function writeRecord(dir: string, record: StoredRecord): Promise<void> {
  await writeFile(join(dir, `${record.id}.json`), `${JSON.stringify(record)}\n`, {
    mode: FILE_MODE,
  });
}

async function readRecord(path: string): Promise<StoredRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as StoredRecord;
  } catch {
    return undefined;
  }
}
