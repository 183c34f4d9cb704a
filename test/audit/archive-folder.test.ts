import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FolderArchiveTarget } from '../../src/audit/archive/folder.js';
import { ArchiveTargetError } from '../../src/audit/archive/target.js';
import { archiveObjectNames } from '../../src/audit/archive/writer.js';
import { archiveContract } from './archive-roundtrip.js';

let root: string;
let target: FolderArchiveTarget;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'bwk-archive-folder-'));
  target = new FolderArchiveTarget(join(root, 'archive'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('folder archive target', () => {
  archiveContract(() => target, 'folder');

  it('writes files 0600 without leftovers', async () => {
    await target.put('perm/object.bin', Buffer.from('x'), 'application/octet-stream');

    expect(statSync(join(root, 'archive', 'perm', 'object.bin')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(root, 'archive', 'perm'))).toEqual(['object.bin']);
  });

  it('rejects names that leave the folder', async () => {
    const names = ['../escape', '/etc/passwd', 'a/../../b', '.hidden', 'a//b', 'a\\b', ''];
    for (const name of names) {
      await expect(target.put(name, Buffer.from('x'), 'text/plain'), name).rejects.toBeInstanceOf(
        ArchiveTargetError,
      );
    }
    expect(() => archiveObjectNames('../x')).toThrow(ArchiveTargetError);
  });
});
