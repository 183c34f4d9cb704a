/**
 * Polyglot detection: a file that more than one format's parser accepts, such as a GIF whose
 * header is also valid JavaScript (served from the application's origin, it passes a
 * script-src 'self' policy), a JPEG with a ZIP or JAR appended (a Java applet or an archive
 * that a later unpacker reads from the end), or a PDF that is also a ZIP.
 */
import { open } from 'node:fs/promises';

import { parse } from 'acorn';

import { openZip } from './archive.js';

/** The second format a file was accepted as. */
export type PolyglotKind = 'javascript' | 'zip' | 'pdf' | 'html';

/** Files up to this size are tried as JavaScript; a polyglot script is small in practice. */
const MAX_SCRIPT_PARSE = 2 * 1024 * 1024;
/** PDF readers look for `%PDF-` within the first 1024 bytes. */
const PDF_WINDOW = 1024;
/** Browsers sniff HTML in the first 512 bytes of a response with a wrong or missing type. */
const HTML_SNIFF_WINDOW = 512;
const HTML_MARKERS = /<\s*(script|html|body|iframe|svg|head|img|a\s)|<\?php|<%/i;

/**
 * Returns the second format `path` parses as, when its detected format is `primary` (a
 * file-type extension such as `gif`). Returns undefined when it parses as one format only.
 * `isZipFamily` is true when the primary format is itself a ZIP container (docx, jar, apk...).
 */
export async function findPolyglot(
  path: string,
  size: number,
  primary: string | undefined,
  isZipFamily: boolean,
): Promise<PolyglotKind | undefined> {
  if (!isZipFamily) {
    const zip = await openZip(path);
    if (zip !== undefined) {
      const entries = zip.entryCount;
      zip.close();
      // An empty central directory is a stray signature, not something an unpacker opens.
      if (entries > 0) return 'zip';
    }
  }
  const head = await readHead(path, Math.min(size, PDF_WINDOW));
  if (primary !== 'pdf' && head.includes('%PDF-', 0, 'latin1')) return 'pdf';
  if (
    primary !== undefined &&
    HTML_MARKERS.test(head.subarray(0, HTML_SNIFF_WINDOW).toString('latin1'))
  )
    return 'html';
  if (primary !== undefined && size <= MAX_SCRIPT_PARSE && (await parsesAsScript(path)))
    return 'javascript';
  return undefined;
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Tells whether the whole file parses as a JavaScript script or module. A binary format's
 * bytes almost never do, because control characters outside comments and strings are syntax
 * errors; a file crafted to be both does. acorn only builds a syntax tree and runs nothing.
 */
async function parsesAsScript(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  let text: string;
  try {
    text = (await handle.readFile()).toString('latin1');
  } finally {
    await handle.close();
  }
  for (const sourceType of ['script', 'module'] as const) {
    try {
      parse(text, { ecmaVersion: 'latest', sourceType, allowHashBang: true });
      return true;
    } catch {
      // Not this kind of program.
    }
  }
  return false;
}
