import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  PathOutsideRootError,
  resolveInsideRoot,
  resolveRealPathInsideRoot,
  type PathRejection,
} from '../../src/validation/safe-path.js';

function rejection(run: () => unknown): PathRejection | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof PathOutsideRootError) return error.reason;
    throw error;
  }
  return undefined;
}

const ROOT = '/srv/files';

describe('resolveInsideRoot', () => {
  it('resolves a plain relative path', () => {
    expect(resolveInsideRoot(ROOT, 'reports/2024/q1.pdf')).toBe('/srv/files/reports/2024/q1.pdf');
  });

  it('treats a backslash as a separator', () => {
    expect(resolveInsideRoot(ROOT, 'reports\\q1.pdf')).toBe('/srv/files/reports/q1.pdf');
  });

  it('returns the root for an empty path or a dot', () => {
    expect(resolveInsideRoot(ROOT, '')).toBe(ROOT);
    expect(resolveInsideRoot(ROOT, './')).toBe(ROOT);
  });

  it('accepts names that only contain dots', () => {
    expect(resolveInsideRoot(ROOT, '.hidden/a..b/..c.txt')).toBe('/srv/files/.hidden/a..b/..c.txt');
  });

  const attacks: [string, string, PathRejection][] = [
    ['dot-dot', '../etc/passwd', 'traversal'],
    ['dot-dot in the middle', 'a/../../etc/passwd', 'traversal'],
    ['dot-dot inside the root', 'a/../b', 'traversal'],
    ['Windows dot-dot', '..\\..\\windows\\win.ini', 'traversal'],
    ['dot-dot with a trailing space', 'a/.. /b', 'traversal'],
    ['three dots', '.../b', 'traversal'],
    ['full-width dots and slash', '．．／etc/passwd', 'traversal'],
    ['absolute POSIX path', '/etc/passwd', 'absolute'],
    ['drive letter', 'C:\\Windows\\win.ini', 'absolute'],
    ['drive-relative path', 'c:secret.txt', 'absolute'],
    ['UNC path', '\\\\server\\share\\file', 'absolute'],
    ['device path', '\\\\?\\C:\\file', 'absolute'],
    ['POSIX UNC form', '//server/share', 'absolute'],
    ['encoded dots', '%2e%2e/etc/passwd', 'encoded'],
    ['encoded upper case', '%2E%2E%2Fetc', 'encoded'],
    ['encoded slash', '..%2fetc', 'encoded'],
    ['encoded backslash', '..%5cwin.ini', 'encoded'],
    ['double-encoded dots', '%252e%252e/etc/passwd', 'encoded'],
    ['overlong UTF-8 dot', '%c0%ae%c0%ae/etc', 'encoded'],
    ['three-byte overlong dot', '%e0%80%ae%e0%80%ae/etc', 'encoded'],
    ['encoded NUL', 'a.txt%00.pdf', 'encoded'],
    ['NUL byte', 'a.txt\0.pdf', 'null_byte'],
    ['overlong input', 'a/'.repeat(3000), 'too_long'],
  ];

  it.each(attacks)('rejects %s', (_title, path, reason) => {
    expect(rejection(() => resolveInsideRoot(ROOT, path))).toBe(reason);
  });

  it('keeps the path out of the message', () => {
    try {
      resolveInsideRoot(ROOT, '../secret-name');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PathOutsideRootError);
      expect((error as PathOutsideRootError).code).toBe('BWK_ERR_PATH_OUTSIDE_ROOT');
      expect((error as Error).message).not.toContain('secret-name');
    }
  });

  it('rejects an empty root', () => {
    expect(() => resolveInsideRoot('', 'a')).toThrow(InvalidArgumentError);
  });
});

describe('resolveRealPathInsideRoot', () => {
  let base: string;
  let root: string;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'bwk-path-')));
    root = join(base, 'root');
    await mkdir(join(root, 'docs'), { recursive: true });
    await mkdir(join(base, 'outside'));
    await writeFile(join(root, 'docs', 'a.txt'), 'a');
    await writeFile(join(base, 'outside', 'secret.txt'), 's');
    await symlink(join(base, 'outside'), join(root, 'escape'));
    await symlink(join(root, 'docs'), join(root, 'alias'));
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('returns the real path of an existing file', async () => {
    expect(await resolveRealPathInsideRoot(root, 'docs/a.txt')).toBe(join(root, 'docs', 'a.txt'));
  });

  it('accepts a link that stays inside', async () => {
    expect(await resolveRealPathInsideRoot(root, 'alias/a.txt')).toBe(join(root, 'docs', 'a.txt'));
  });

  it('accepts a file not yet created', async () => {
    expect(await resolveRealPathInsideRoot(root, 'docs/new/b.txt')).toBe(
      join(root, 'docs', 'new', 'b.txt'),
    );
  });

  it('rejects a link pointing outside', async () => {
    await expect(resolveRealPathInsideRoot(root, 'escape/secret.txt')).rejects.toMatchObject({
      code: 'BWK_ERR_PATH_OUTSIDE_ROOT',
      reason: 'symlink_outside_root',
    });
  });

  it('rejects a new file under a link pointing outside', async () => {
    await expect(resolveRealPathInsideRoot(root, 'escape/new.txt')).rejects.toMatchObject({
      reason: 'symlink_outside_root',
    });
  });

  it('passes the lexical check through the link', () => {
    expect(resolveInsideRoot(root, 'escape/secret.txt')).toBe(join(root, 'escape', 'secret.txt'));
  });

  it('still rejects traversal before any I/O', async () => {
    await expect(resolveRealPathInsideRoot(root, '../outside/secret.txt')).rejects.toMatchObject({
      reason: 'traversal',
    });
  });

  it('rejects a missing root', async () => {
    await expect(resolveRealPathInsideRoot(join(base, 'missing'), 'a.txt')).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
