import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

import { BulwarkError } from '../../core/errors.js';
import { checkArchiveName, type ArchiveTarget } from './target.js';

/**
 * Archive segments: the records as gzip-compressed JSON lines (`<name>.jsonl.gz`) and a
 * manifest (`<name>.manifest.json`) that states the record count, the SHA-256 of the
 * compressed bytes and the first and last record, signed with the audit signing key
 * (Ed25519). Anyone with the public key can check that an archive is complete and unchanged.
 */

export const ARCHIVE_FORMAT = 'bulwark-audit-archive';
export const ARCHIVE_FORMAT_VERSION = 1;
const DATA_CONTENT_TYPE = 'application/gzip';
const MANIFEST_CONTENT_TYPE = 'application/json';
/** Largest manifest parsed; a real one is under 1 KiB. */
const MAX_MANIFEST_BYTES = 64 * 1024;
/** Largest decompressed archive that `readArchive` accepts, whatever the manifest states. */
export const MAX_ARCHIVE_DATA_BYTES = 4 * 1024 * 1024 * 1024 - 1;

/** The first or last record of an archive, by its `seq` and `time` fields when it has them. */
export interface ArchiveBound {
  seq: number | null;
  time: string | null;
}

export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  version: typeof ARCHIVE_FORMAT_VERSION;
  /** Object name of the compressed JSON lines. */
  data: string;
  count: number;
  /** Hex SHA-256 of the compressed bytes as stored. */
  sha256: string;
  /** Size of the JSON lines before compression, which bounds decompression. */
  uncompressedBytes: number;
  first: ArchiveBound;
  last: ArchiveBound;
  /** RFC 3339 time the archive was written. */
  created: string;
  /** Id of the signing key; `publicKeyById` finds its public key. */
  kid: string;
  /** Base64 Ed25519 signature over the manifest's other fields in the order above. */
  signature: string;
}

export type ArchiveFailure =
  | 'manifest_invalid'
  | 'unknown_key'
  | 'bad_signature'
  | 'hash_mismatch'
  | 'data_invalid'
  | 'count_mismatch';

/** An archive that fails verification; `reason` names the check. */
export class ArchiveIntegrityError extends BulwarkError {
  constructor(
    readonly reason: ArchiveFailure,
    readonly archive: string,
    message: string,
  ) {
    super('BWK_ERR_AUDIT_ARCHIVE_INTEGRITY', `Archive "${archive}": ${message}`);
  }
}

/** Returns the object names of an archive's data and manifest. */
export function archiveObjectNames(name: string): { data: string; manifest: string } {
  checkArchiveName(name);
  return { data: `${name}.jsonl.gz`, manifest: `${name}.manifest.json` };
}

/**
 * Writes records as an archive: the data first, then the signed manifest, so that a
 * manifest never names data that is not stored yet. Returns the manifest.
 */
export async function writeArchive(
  target: ArchiveTarget,
  name: string,
  records: readonly object[],
  signer: { kid: string; privateKey: KeyObject },
  now: Date = new Date(),
): Promise<ArchiveManifest> {
  const objects = archiveObjectNames(name);
  const lines = records.map((record) => `${JSON.stringify(record)}\n`).join('');
  const plain = Buffer.from(lines, 'utf8');
  const data = gzipSync(plain);
  const unsigned = manifestFields({
    data: objects.data,
    count: records.length,
    sha256: sha256(data),
    uncompressedBytes: plain.length,
    first: boundOf(records[0]),
    last: boundOf(records.at(-1)),
    created: now.toISOString(),
    kid: signer.kid,
  });
  const signature = sign(null, Buffer.from(JSON.stringify(unsigned), 'utf8'), signer.privateKey);
  const manifest: ArchiveManifest = { ...unsigned, signature: signature.toString('base64') };

  await target.put(objects.data, data, DATA_CONTENT_TYPE);
  await target.put(
    objects.manifest,
    Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'),
    MANIFEST_CONTENT_TYPE,
  );
  return manifest;
}

/**
 * Reads and checks an archive's manifest signature. Throws `ArchiveIntegrityError` on an
 * invalid manifest, an unknown key or a bad signature.
 */
export async function readArchiveManifest(
  target: ArchiveTarget,
  name: string,
  publicKeyById: (kid: string) => KeyObject | undefined,
): Promise<ArchiveManifest> {
  const objects = archiveObjectNames(name);
  const bytes = await target.get(objects.manifest);
  if (bytes.length > MAX_MANIFEST_BYTES)
    throw new ArchiveIntegrityError(
      'manifest_invalid',
      name,
      'the manifest is larger than 64 KiB.',
    );
  const manifest = parseManifest(bytes, name);
  if (manifest.data !== objects.data)
    throw new ArchiveIntegrityError(
      'manifest_invalid',
      name,
      `the manifest names the data "${manifest.data}" instead of "${objects.data}".`,
    );

  const key = publicKeyById(manifest.kid);
  if (key === undefined)
    throw new ArchiveIntegrityError(
      'unknown_key',
      name,
      `the manifest is signed with key "${manifest.kid}", which the verifier does not have.`,
    );
  const { signature, ...rest } = manifest;
  const signed = Buffer.from(JSON.stringify(manifestFields(rest)), 'utf8');
  let valid = false;
  try {
    valid = verify(null, signed, key, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid)
    throw new ArchiveIntegrityError(
      'bad_signature',
      name,
      `the manifest signature does not verify with key "${manifest.kid}".`,
    );
  return manifest;
}

/**
 * Reads an archive and checks it: the manifest signature, the SHA-256 of the data and the
 * record count. Returns the records in their original order. Throws `ArchiveIntegrityError`
 * naming the failed check, or `ArchiveNotFoundError` when an object is missing.
 */
export async function readArchive(
  target: ArchiveTarget,
  name: string,
  publicKeyById: (kid: string) => KeyObject | undefined,
): Promise<object[]> {
  const manifest = await readArchiveManifest(target, name, publicKeyById);
  const data = await target.get(manifest.data);
  if (sha256(data) !== manifest.sha256)
    throw new ArchiveIntegrityError(
      'hash_mismatch',
      name,
      'the data does not match the SHA-256 in the signed manifest; it was changed or replaced.',
    );

  let text: string;
  try {
    // The signed size bounds decompression, so a crafted stream cannot expand without limit.
    text = gunzipSync(data, { maxOutputLength: Math.max(1, manifest.uncompressedBytes) }).toString(
      'utf8',
    );
  } catch {
    throw new ArchiveIntegrityError('data_invalid', name, 'the data is not valid gzip.');
  }
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  if (!text.endsWith('\n') && text !== '')
    throw new ArchiveIntegrityError('data_invalid', name, 'the data does not end with a newline.');
  if (lines.length !== manifest.count)
    throw new ArchiveIntegrityError(
      'count_mismatch',
      name,
      `the data holds ${lines.length} records, the manifest ${manifest.count}.`,
    );
  return lines.map((line, index) => {
    try {
      return JSON.parse(line) as object;
    } catch {
      throw new ArchiveIntegrityError(
        'data_invalid',
        name,
        `record ${index + 1} is not valid JSON.`,
      );
    }
  });
}

/** Builds the signed part of a manifest with its fields in a fixed order. */
function manifestFields(fields: Omit<ArchiveManifest, 'signature' | 'format' | 'version'>) {
  return {
    format: ARCHIVE_FORMAT,
    version: ARCHIVE_FORMAT_VERSION,
    data: fields.data,
    count: fields.count,
    sha256: fields.sha256,
    uncompressedBytes: fields.uncompressedBytes,
    first: { seq: fields.first.seq, time: fields.first.time },
    last: { seq: fields.last.seq, time: fields.last.time },
    created: fields.created,
    kid: fields.kid,
  } as const;
}

function boundOf(record: object | undefined): ArchiveBound {
  const fields = (record ?? {}) as { seq?: unknown; time?: unknown };
  return {
    seq: typeof fields.seq === 'number' ? fields.seq : null,
    time: typeof fields.time === 'string' ? fields.time : null,
  };
}

function parseManifest(bytes: Buffer, name: string): ArchiveManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ArchiveIntegrityError('manifest_invalid', name, 'the manifest is not valid JSON.');
  }
  const manifest = value as Partial<ArchiveManifest>;
  const isBound = (bound: unknown): bound is ArchiveBound =>
    typeof bound === 'object' &&
    bound !== null &&
    ((bound as ArchiveBound).seq === null || Number.isSafeInteger((bound as ArchiveBound).seq)) &&
    ((bound as ArchiveBound).time === null || typeof (bound as ArchiveBound).time === 'string');
  const valid =
    typeof value === 'object' &&
    value !== null &&
    manifest.format === ARCHIVE_FORMAT &&
    manifest.version === ARCHIVE_FORMAT_VERSION &&
    typeof manifest.data === 'string' &&
    Number.isSafeInteger(manifest.count) &&
    manifest.count! >= 0 &&
    typeof manifest.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(manifest.sha256) &&
    Number.isSafeInteger(manifest.uncompressedBytes) &&
    manifest.uncompressedBytes! >= 0 &&
    manifest.uncompressedBytes! <= MAX_ARCHIVE_DATA_BYTES &&
    isBound(manifest.first) &&
    isBound(manifest.last) &&
    typeof manifest.created === 'string' &&
    typeof manifest.kid === 'string' &&
    typeof manifest.signature === 'string';
  if (!valid)
    throw new ArchiveIntegrityError(
      'manifest_invalid',
      name,
      `the manifest is not a version ${ARCHIVE_FORMAT_VERSION} ${ARCHIVE_FORMAT} manifest.`,
    );
  return manifest as ArchiveManifest;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
