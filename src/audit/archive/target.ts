import { BulwarkError } from '../../core/errors.js';

/**
 * Where audit archives and checkpoints are kept: a folder, an S3 bucket or an Azure Blob
 * container. Names are relative paths such as `2026/12/segment-000042.jsonl.gz`.
 */
export interface ArchiveTarget {
  /** `folder`, `s3` or `azure`, for logs and manifests. */
  readonly kind: string;
  /** Stores `body` under `name`, replacing an object of that name. Resolves once durable. */
  put(name: string, body: Buffer, contentType: string): Promise<void>;
  /** Returns the object's bytes; throws `ArchiveNotFoundError` when there is none. */
  get(name: string): Promise<Buffer>;
  /** Returns the names that start with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

/** Largest object `get` reads into memory; an archive segment is far smaller. */
export const MAX_ARCHIVE_OBJECT_BYTES = 1024 * 1024 * 1024;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;
const MAX_NAME_LENGTH = 512;

export class ArchiveNotFoundError extends BulwarkError {
  constructor(
    readonly target: string,
    readonly objectName: string,
  ) {
    super(
      'BWK_ERR_AUDIT_ARCHIVE_NOT_FOUND',
      `The ${target} archive target has no object "${objectName}".`,
    );
  }
}

/** A target that cannot be reached or rejected an operation, or an invalid object name. */
export class ArchiveTargetError extends BulwarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BWK_ERR_AUDIT_ARCHIVE_TARGET', message, options);
  }
}

/**
 * Checks an object name: slash-separated segments of letters, digits, `.`, `_` and `-`,
 * none starting with `.` or `-`. That rules out `..`, absolute paths and hidden files, so a
 * folder target never writes outside its folder and names mean the same on every target.
 */
export function checkArchiveName(name: string): string {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || !NAME.test(name))
    throw new ArchiveTargetError(
      `The archive object name "${name.slice(0, 80)}" is invalid; use segments of letters, digits, ".", "_" and "-" separated by "/", up to ${MAX_NAME_LENGTH} characters.`,
    );
  return name;
}

/** Checks a list prefix: empty, or a name or its beginning. */
export function checkArchivePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkArchiveName(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}
