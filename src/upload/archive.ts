/**
 * ZIP inspection from the central directory alone, before anything unpacks the archive. The
 * sizes checked are the ones the directory declares, which is what an unpacker trusts when
 * it allocates. NOTE: an archive whose entries lie about their uncompressed size is caught
 * only by an unpacker that enforces the declared sizes. yauzl does by default
 * (`validateEntrySizes`), other unpackers may not.
 */
import yauzl, { type Entry, type ZipFile } from 'yauzl';

import type { UploadPolicy } from './config.js';
import { uploadRejection, type UploadRejection } from './rejections.js';

/** The numbers an archive check looked at. */
export interface ArchiveSummary {
  entries: number;
  uncompressedSize: number;
  compressedSize: number;
}

/** Opens a ZIP file's central directory; resolves undefined when it is not a ZIP file. */
export function openZip(path: string): Promise<ZipFile | undefined> {
  return new Promise((resolve) => {
    yauzl.open(
      path,
      {
        lazyEntries: true,
        autoClose: false,
        // Names and sizes are checked here, with reasons the client can act on, so yauzl's
        // own name validation (which runs only when it decodes names) is left off.
        strictFileNames: false,
        validateEntrySizes: false,
        decodeStrings: false,
      },
      (error, zip) => resolve(error ? undefined : zip),
    );
  });
}

/**
 * Checks the central directory of the ZIP file at `path` against the route's archive
 * limits: entry count, declared uncompressed size, expansion ratio per entry and overall,
 * and entry names that would leave the extraction folder.
 */
export async function inspectArchive(
  path: string,
  fileSize: number,
  limits: UploadPolicy['archives'],
  field: string,
): Promise<UploadRejection | undefined> {
  const zip = await openZip(path);
  if (zip === undefined) {
    return uploadRejection(
      'archive_invalid',
      `The archive in field "${field}" cannot be read as a ZIP file.`,
      {
        field,
      },
    );
  }
  try {
    if (zip.entryCount > limits.maxEntries) return tooManyEntries(zip.entryCount, limits, field);
    return await walkEntries(zip, fileSize, limits, field);
  } finally {
    zip.close();
  }
}

function walkEntries(
  zip: ZipFile,
  fileSize: number,
  limits: UploadPolicy['archives'],
  field: string,
): Promise<UploadRejection | undefined> {
  return new Promise((resolve) => {
    let entries = 0;
    let uncompressed = 0;
    const stop = (rejection: UploadRejection | undefined): void => {
      zip.removeAllListeners('entry');
      zip.removeAllListeners('end');
      resolve(rejection);
    };
    zip.on('error', () =>
      stop(
        uploadRejection(
          'archive_invalid',
          `The archive in field "${field}" has a damaged directory.`,
          { field },
        ),
      ),
    );
    zip.on('entry', (entry: Entry) => {
      entries += 1;
      uncompressed += entry.uncompressedSize;
      const rejection =
        (entries > limits.maxEntries && tooManyEntries(entries, limits, field)) ||
        checkName(nameOf(entry), field) ||
        checkSizes(entry, uncompressed, fileSize, limits, field);
      if (rejection) stop(rejection);
      else zip.readEntry();
    });
    zip.on('end', () => stop(undefined));
    zip.readEntry();
  });
}

function tooManyEntries(
  count: number,
  limits: UploadPolicy['archives'],
  field: string,
): UploadRejection {
  return uploadRejection(
    'archive_too_many_entries',
    `The archive in field "${field}" has more than ${limits.maxEntries} entries (archives.maxEntries).`,
    { field, details: { entries: count, max: limits.maxEntries } },
  );
}

const DRIVE = /^[a-z]:/i;

/** Decodes an entry name that yauzl left as bytes (`decodeStrings: false`). */
function nameOf(entry: Entry): string {
  const raw = entry.fileName as unknown;
  return Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
}

/** Rejects names that are absolute or climb out of the folder they are unpacked into. */
function checkName(name: string, field: string): UploadRejection | undefined {
  const normalised = name.replaceAll('\\', '/');
  const parts = normalised.split('/');
  const unsafe =
    normalised.startsWith('/') ||
    DRIVE.test(normalised) ||
    parts.includes('..') ||
    normalised.includes('\0');
  if (!unsafe) return undefined;
  return uploadRejection(
    'archive_path',
    `The archive in field "${field}" has an entry whose name is absolute or contains "..".`,
    { field },
  );
}

function checkSizes(
  entry: Entry,
  uncompressedTotal: number,
  fileSize: number,
  limits: UploadPolicy['archives'],
  field: string,
): UploadRejection | undefined {
  if (uncompressedTotal > limits.maxUncompressedSize) {
    return uploadRejection(
      'archive_too_large',
      `The archive in field "${field}" unpacks to more than ${limits.maxUncompressedSize} bytes (archives.maxUncompressedSize).`,
      { field, details: { max: limits.maxUncompressedSize } },
    );
  }
  // A stored or tiny entry can have a high ratio without harm, so the ratio counts only
  // once an entry or the whole archive unpacks to more than 1 MiB.
  const entryRatio = entry.uncompressedSize / Math.max(entry.compressedSize, 1);
  const totalRatio = uncompressedTotal / Math.max(fileSize, 1);
  const ratio =
    entry.uncompressedSize > RATIO_FLOOR && entryRatio > limits.maxRatio
      ? entryRatio
      : uncompressedTotal > RATIO_FLOOR && totalRatio > limits.maxRatio
        ? totalRatio
        : undefined;
  if (ratio === undefined) return undefined;
  return uploadRejection(
    'archive_ratio',
    `The archive in field "${field}" expands more than ${limits.maxRatio} times its compressed size (archives.maxRatio).`,
    { field, details: { ratio: Math.round(ratio), max: limits.maxRatio } },
  );
}

const RATIO_FLOOR = 1024 * 1024;
