import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join, posix, sep } from 'node:path';

import {
  ArchiveNotFoundError,
  ArchiveTargetError,
  MAX_ARCHIVE_OBJECT_BYTES,
  checkArchiveName,
  checkArchivePrefix,
  type ArchiveTarget,
} from './target.js';

/**
 * The default archive target: files below a folder, one per object. Each object is written
 * to a temporary file, flushed to disk and renamed into place, so that a reader never sees
 * half an archive and a crash leaves the previous version or none.
 */
export class FolderArchiveTarget implements ArchiveTarget {
  readonly kind = 'folder';

  constructor(readonly root: string) {}

  /** Stores the object; a folder keeps no content type, so `_contentType` is unused. */
  async put(name: string, body: Buffer, _contentType?: string): Promise<void> {
    const path = this.pathOf(name);
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
      await syncFolder(dirname(path));
    } catch (error) {
      throw new ArchiveTargetError(`Cannot write the archive object "${name}" to ${this.root}.`, {
        cause: error,
      });
    }
  }

  async get(name: string): Promise<Buffer> {
    const path = this.pathOf(name);
    try {
      const info = await stat(path);
      if (info.size > MAX_ARCHIVE_OBJECT_BYTES)
        throw new ArchiveTargetError(`The archive object "${name}" is larger than 1 GiB.`);
      return await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ArchiveNotFoundError(this.kind, name);
      if (error instanceof ArchiveTargetError) throw error;
      throw new ArchiveTargetError(`Cannot read the archive object "${name}" from ${this.root}.`, {
        cause: error,
      });
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkArchivePrefix(prefix);
    const names: string[] = [];
    await this.walk('', names);
    return names.filter((name) => name.startsWith(prefix)).sort();
  }

  private async walk(relative: string, names: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(join(this.root, relative), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new ArchiveTargetError(`Cannot list the archive folder ${this.root}.`, {
        cause: error,
      });
    }
    for (const entry of entries) {
      const name = relative === '' ? entry.name : posix.join(relative, entry.name);
      // Temporary files of writes in progress, and anything not named as an object, are skipped.
      if (entry.isDirectory()) await this.walk(name, names);
      else if (entry.isFile() && !entry.name.endsWith('.tmp') && isObjectName(name))
        names.push(name);
    }
  }

  private pathOf(name: string): string {
    return join(this.root, ...checkArchiveName(name).split('/'));
  }
}

function isObjectName(name: string): boolean {
  try {
    checkArchiveName(name.split(sep).join('/'));
    return true;
  } catch {
    return false;
  }
}

/** Flushes a rename to disk; some platforms cannot open a folder, which is not an error there. */
async function syncFolder(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch {
    // NOTE: on Windows a folder cannot be opened for sync, so the rename may not yet be durable.
  } finally {
    await handle?.close();
  }
}
