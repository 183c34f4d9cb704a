/**
 * The checks of one received file, cheapest first. The extension must be in the route's
 * allowlist, the declared media type allowed for it, and the magic bytes (file-type) must
 * agree with the declared type. Then come the text checks (SVG, HTML, CSV), the archive
 * checks and the polyglot checks. The malware scan runs after these, in inspect.ts.
 */
import { open, readFile } from 'node:fs/promises';

import { fileTypeFromFile } from 'file-type';

import { inspectArchive } from './archive.js';
import type { UploadPolicy } from './config.js';
import type { ReceivedFile } from './multipart.js';
import { findPolyglot } from './polyglot.js';
import { uploadRejection, type UploadRejection } from './rejections.js';
import { checkCsv, checkHtml, checkSvg } from './text-checks.js';

/** A file that passed its checks. */
export interface CheckedFile {
  /** The media type the checks agreed on. */
  type: string;
  flags: string[];
  /** New bytes for the file, when CSV neutralisation changed it. */
  rewritten: Buffer | undefined;
}

/** Media types clients send for the same format; the key is replaced by the value. */
const MIME_ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/x-png': 'image/png',
  'application/x-zip-compressed': 'application/zip',
  'application/x-zip': 'application/zip',
  'application/csv': 'text/csv',
  'text/x-csv': 'text/csv',
  'application/x-pdf': 'application/pdf',
  'application/x-gzip': 'application/gzip',
};

/** Formats that are ZIP containers, by file-type extension. */
const ZIP_FAMILY = new Set([
  'zip',
  'jar',
  'apk',
  'docx',
  'xlsx',
  'pptx',
  'odt',
  'ods',
  'odp',
  'odg',
  'epub',
  'xpi',
  '3mf',
  'vsdx',
  'ipa',
  'kmz',
]);

/** Media types that magic bytes cannot identify, checked as text instead. */
const TEXT_TYPES = new Set([
  'text/plain',
  'text/csv',
  'text/html',
  'text/markdown',
  'image/svg+xml',
  'application/json',
  'application/xml',
  'text/xml',
]);

export function normaliseMime(mime: string): string {
  return MIME_ALIASES[mime] ?? mime;
}

/** Checks one received file against the route's policy. */
export async function checkFile(
  file: ReceivedFile,
  policy: UploadPolicy,
): Promise<CheckedFile | UploadRejection> {
  const field = file.field;
  const extension = allowedExtension(file.name, policy);
  if (extension === undefined) {
    return uploadRejection(
      'extension_not_allowed',
      `The file in field "${field}" has an extension this route does not accept; allowed: ${[...policy.types.keys()].join(', ')}.`,
      { field },
    );
  }
  const allowed = policy.types.get(extension)!;
  const declared = normaliseMime(file.declaredType);
  if (!allowed.has(declared)) {
    return uploadRejection(
      'type_mismatch',
      `The file in field "${field}" declares a media type that is not allowed for .${extension} files; allowed: ${[...allowed].join(', ')}.`,
      { field, details: { extension } },
    );
  }

  const detected = await fileTypeFromFile(file.path);
  const detectedMime = detected && normaliseMime(detected.mime);
  // file-type names any document starting with `<?xml` XML, an SVG file included.
  const xmlText = detectedMime === 'application/xml' && TEXT_TYPES.has(declared);
  if (detected !== undefined && !xmlText && detectedMime !== declared) {
    return uploadRejection(
      'type_mismatch',
      `The content of the file in field "${field}" is ${detected.mime}, not the declared ${declared}.`,
      { field, details: { extension, detected: detected.mime, declared } },
    );
  }

  const flags: string[] = [];
  let rewritten: Buffer | undefined;
  if (detected === undefined || xmlText) {
    if (!TEXT_TYPES.has(declared)) {
      return uploadRejection(
        'type_mismatch',
        `The content of the file in field "${field}" matches no known format, so it cannot be the declared ${declared}.`,
        { field, details: { extension, declared } },
      );
    }
    const text = await readText(file);
    if (typeof text !== 'string') return text;
    const textResult = checkText(file, declared, extension, text, policy);
    if (textResult !== undefined && 'reason' in textResult) return textResult;
    if (textResult?.flag) flags.push(textResult.flag);
    rewritten = textResult?.rewritten;
  }

  const isZip = detected !== undefined && ZIP_FAMILY.has(detected.ext);
  if (isZip) {
    const archive = await inspectArchive(file.path, file.size, policy.archives, field);
    if (archive) return archive;
  }
  if (detected?.ext === 'gz') {
    const gzip = await checkGzip(file, policy);
    if (gzip) return gzip;
  }

  const second = await findPolyglot(
    file.path,
    file.size,
    xmlText ? undefined : detected?.ext,
    isZip,
  );
  if (second !== undefined) {
    return uploadRejection(
      'polyglot',
      `The file in field "${field}" is both ${detected?.ext ?? declared} and ${second}, which is not accepted.`,
      { field, details: { detected: detected?.mime ?? declared, also: second } },
    );
  }
  return { type: declared, flags, rewritten };
}

/** Returns the longest allowed extension the name ends with. */
function allowedExtension(name: string, policy: UploadPolicy): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  for (const extension of policy.types.keys()) {
    if (lower.endsWith(`.${extension}`) && lower.length > extension.length + 1) {
      if (best === undefined || extension.length > best.length) best = extension;
    }
  }
  return best;
}

async function readText(file: ReceivedFile): Promise<string | UploadRejection> {
  const bytes = await readFile(file.path);
  const binary = uploadRejection(
    'binary_text',
    `The file in field "${file.field}" is declared as text but is not UTF-8 text.`,
    { field: file.field },
  );
  if (bytes.includes(0)) return binary;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return binary;
  }
}

function checkText(
  file: ReceivedFile,
  declared: string,
  extension: string,
  text: string,
  policy: UploadPolicy,
): UploadRejection | { flag?: string; rewritten?: Buffer } | undefined {
  const field = file.field;
  if (declared === 'image/svg+xml' || extension === 'svg') {
    const finding = checkSvg(text, policy.svg.allowDataUrls);
    if (finding === undefined) return undefined;
    return uploadRejection(
      'svg_active_content',
      `The SVG file in field "${field}" was rejected: ${SVG_TEXT[finding]}.`,
      { field, details: { finding } },
    );
  }
  if (declared === 'text/html' || extension === 'html' || extension === 'htm') {
    const finding = checkHtml(text);
    if (finding === undefined) return undefined;
    return uploadRejection(
      'html_active_content',
      `The HTML file in field "${field}" contains active content (${finding.replaceAll('_', ' ')}).`,
      { field, details: { finding } },
    );
  }
  if (declared === 'text/csv' || extension === 'csv') {
    const mode = policy.csv.formulas;
    const result = checkCsv(text, mode === 'neutralise');
    if (result.formulaCells === 0) return undefined;
    if (mode === 'reject') {
      return uploadRejection(
        'csv_formula',
        `The CSV file in field "${field}" has ${result.formulaCells} cells that start with = + - @ tab or CR, which spreadsheets run as formulas.`,
        { field, details: { cells: result.formulaCells } },
      );
    }
    if (mode === 'flag') return { flag: 'csv_formula' };
    return { flag: 'csv_neutralised', rewritten: Buffer.from(result.neutralised!, 'utf8') };
  }
  return undefined;
}

const SVG_TEXT: Record<string, string> = {
  not_svg: 'the root element is not <svg>',
  script: 'it contains a script or an element that runs one',
  event_handler: 'it contains an event-handler attribute (on...)',
  foreign_object: 'it contains a foreignObject element',
  external_reference: 'it references a resource outside the file',
  xml: 'it is not well-formed XML, has a DOCTYPE or ENTITY declaration, or nests too deeply',
};

/**
 * Checks a gzip file's declared uncompressed size (its last 4 bytes) against the archive
 * limits. NOTE: the field contains the size modulo 4 GiB, so a stream of 4 GiB or more can pass.
 */
async function checkGzip(
  file: ReceivedFile,
  policy: UploadPolicy,
): Promise<UploadRejection | undefined> {
  if (file.size < 18) return undefined;
  const handle = await open(file.path, 'r');
  let expanded: number;
  try {
    const trailer = Buffer.alloc(4);
    await handle.read(trailer, 0, 4, file.size - 4);
    expanded = trailer.readUInt32LE(0);
  } finally {
    await handle.close();
  }
  const limits = policy.archives;
  if (expanded > limits.maxUncompressedSize) {
    return uploadRejection(
      'archive_too_large',
      `The gzip file in field "${file.field}" unpacks to more than ${limits.maxUncompressedSize} bytes (archives.maxUncompressedSize).`,
      { field: file.field, details: { max: limits.maxUncompressedSize } },
    );
  }
  if (expanded > 1024 * 1024 && expanded / file.size > limits.maxRatio) {
    return uploadRejection(
      'archive_ratio',
      `The gzip file in field "${file.field}" expands more than ${limits.maxRatio} times its compressed size (archives.maxRatio).`,
      { field: file.field, details: { max: limits.maxRatio } },
    );
  }
  return undefined;
}
