/**
 * Resolution of a user-supplied relative path inside a root directory, for handlers that
 * read or write files named by a request. The checks run on the text first, so a rejection
 * costs no I/O; `resolveRealPathInsideRoot` adds a file-system check against symbolic links.
 */

import { realpath } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';

import { BulwarkError, InvalidArgumentError } from '../core/errors.js';

/** Maximum length of a user path, in UTF-16 code units; longer input is rejected unread. */
export const MAX_USER_PATH_LENGTH = 4096;

/** Reason a user path was rejected. */
export type PathRejection =
  | 'too_long'
  | 'null_byte'
  | 'encoded'
  | 'absolute'
  | 'traversal'
  | 'outside_root'
  | 'symlink_outside_root';

const REASON_TEXT: Record<PathRejection, string> = {
  too_long: `it is longer than ${MAX_USER_PATH_LENGTH} characters`,
  null_byte: 'it contains a NUL character',
  encoded: 'it contains a percent-encoded dot, slash, backslash, percent sign or NUL',
  absolute: 'it is absolute, or starts with a drive letter or a UNC prefix',
  traversal: 'it contains a ".." segment',
  outside_root: 'it resolves outside the root directory',
  symlink_outside_root: 'a symbolic link in it points outside the root directory',
};

/** Thrown when a user path could leave the root. The message never contains the path. */
export class PathOutsideRootError extends BulwarkError {
  readonly reason: PathRejection;

  constructor(reason: PathRejection) {
    super('BWK_ERR_PATH_OUTSIDE_ROOT', `Path rejected: ${REASON_TEXT[reason]}.`);
    this.reason = reason;
  }
}

// Percent-encodings of `.`, `/`, `\`, `%` (so every double encoding) and NUL, plus the
// overlong UTF-8 lead bytes C0 and C1 and the overlong three-byte prefix E0 80..9F, which old
// decoders turned into `.` or `/`. A path that still contains one after the router decoded it
// once was encoded twice, which no honest client does.
const ENCODED = /%(?:2e|2f|5c|25|00|c0|c1|e0%[89][0-9a-f])/i;

// A drive letter (`C:`, `C:\`, `C:foo`), or a leading slash or backslash, which also
// covers UNC (`\\server\share`) and device (`\\?\`, `\\.\`) paths.
const ABSOLUTE = /^(?:[a-z]:|[/\\])/i;

// Windows drops trailing dots and spaces from a segment, so `.. ` and `...` act like `..`.
const TRAVERSAL_SEGMENT = /^[. ]*\.\.[. ]*$/;

/**
 * Resolves `userPath` against `root` and returns the absolute path, or throws
 * `PathOutsideRootError` when the path could leave the root: a `..` segment (with `/` or `\`
 * as the separator), an absolute path, a drive letter, a UNC path, a NUL character, or a
 * percent-encoded separator, dot or percent sign. The checks also run on the NFKC form, so
 * full-width lookalikes such as `．．／` are rejected too. An empty path returns the root.
 *
 * This check reads only the text, so a symbolic link inside the root can still point out of
 * it; use `resolveRealPathInsideRoot` where users can create links.
 */
export function resolveInsideRoot(root: string, userPath: string): string {
  const base = resolveRoot(root);
  if (typeof userPath !== 'string') throw new InvalidArgumentError('user path must be a string');

  checkText(userPath);
  const normalized = userPath.normalize('NFKC');
  if (normalized !== userPath) checkText(normalized);

  const resolved = resolve(base, ...userPath.split(/[/\\]/));
  if (!isInside(base, resolved)) throw new PathOutsideRootError('outside_root');
  return resolved;
}

/**
 * Does what `resolveInsideRoot` does, then resolves symbolic links with `fs.realpath` and
 * checks that the real path is still inside the real root. The target need not exist, so
 * that a path for a new file can be checked: its nearest existing parent is resolved instead.
 * Returns the real path. Throws the errors of `fs.realpath` other than ENOENT and ENOTDIR,
 * for instance when the root does not exist.
 *
 * NOTE: a link created between this check and the later open is not seen. Where users can
 * write to the root at the same time, also open the file with `O_NOFOLLOW`.
 */
export async function resolveRealPathInsideRoot(root: string, userPath: string): Promise<string> {
  const lexical = resolveInsideRoot(root, userPath);
  const realRoot = await realpath(resolveRoot(root));
  const realTarget = await realpathOfNearestExisting(lexical);

  if (!isInside(realRoot, realTarget)) throw new PathOutsideRootError('symlink_outside_root');
  return realTarget;
}

function resolveRoot(root: string): string {
  if (typeof root !== 'string' || root === '' || root.includes('\0')) {
    throw new InvalidArgumentError('root must be a non-empty directory path without NUL');
  }
  return resolve(root);
}

function checkText(path: string): void {
  if (path.length > MAX_USER_PATH_LENGTH) throw new PathOutsideRootError('too_long');
  if (path.includes('\0')) throw new PathOutsideRootError('null_byte');
  if (ENCODED.test(path)) throw new PathOutsideRootError('encoded');
  if (ABSOLUTE.test(path)) throw new PathOutsideRootError('absolute');
  if (path.split(/[/\\]/).some((segment) => TRAVERSAL_SEGMENT.test(segment))) {
    throw new PathOutsideRootError('traversal');
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

// Walks up until a parent exists, so a path to a file not yet created keeps its missing
// tail and is judged by where its existing part really is.
async function realpathOfNearestExisting(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;

  for (;;) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = resolve(current, '..');
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) throw error;
      missing.push(basename(current));
      current = parent;
    }
  }
}
