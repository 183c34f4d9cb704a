import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ELF, GIF, GIF_JS_POLYGLOT, JPEG, PDF, PE, PNG, zip } from './fixtures.js';
import { inspectorFor, inspectParts, reasonOf, tempFolders, type Folders } from './harness.js';

let folders: Folders;

beforeEach(async () => {
  folders = await tempFolders();
});

afterEach(async () => {
  await folders.cleanup();
});

describe('file type checks', () => {
  it('PNG with matching type accepted', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);
    expect(reasonOf(result)).toBe('accepted');
  });

  it('ELF executable named .png rejected', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: ELF },
    ]);
    expect(reasonOf(result)).toBe('type_mismatch');
    expect(result.ok ? undefined : result.status).toBe(415);
    expect(result.ok ? undefined : result.rejection.details?.detected).toBe('application/x-elf');
  });

  it('PE executable named .png rejected', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PE },
    ]);
    expect(reasonOf(result)).toBe('type_mismatch');
    expect(result.ok ? undefined : result.rejection.details?.detected).toBe(
      'application/x-msdownload',
    );
  });

  it('extension outside the allowlist rejected', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'tool', filename: 'run.exe', type: 'application/x-msdownload', data: PE },
    ]);
    expect(reasonOf(result)).toBe('extension_not_allowed');
  });

  it('declared type disagreeing with the bytes rejected', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'photo', filename: 'cat.jpg', type: 'image/jpeg', data: PNG },
    ]);
    expect(reasonOf(result)).toBe('type_mismatch');
  });

  it('binary bytes declared as CSV rejected', async () => {
    const bytes = Buffer.from([0x61, 0x2c, 0x00, 0xff, 0xfe, 0x0a]);
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'sheet', filename: 'data.csv', type: 'text/csv', data: bytes },
    ]);
    expect(reasonOf(result)).toBe('binary_text');
  });
});

describe('polyglot checks', () => {
  it('GIF that parses as JavaScript rejected', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'image', filename: 'pixel.gif', type: 'image/gif', data: GIF_JS_POLYGLOT },
    ]);
    expect(reasonOf(result)).toBe('polyglot');
    expect(result.ok ? undefined : result.rejection.details?.also).toBe('javascript');
  });

  it('plain GIF accepted', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'image', filename: 'pixel.gif', type: 'image/gif', data: GIF },
    ]);
    expect(reasonOf(result)).toBe('accepted');
  });

  it('JPEG with a JAR appended rejected', async () => {
    const jar = zip([
      { name: 'META-INF/MANIFEST.MF', data: Buffer.from('Manifest-Version: 1.0\n') },
    ]);
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'photo', filename: 'cat.jpg', type: 'image/jpeg', data: Buffer.concat([JPEG, jar]) },
    ]);
    expect(reasonOf(result)).toBe('polyglot');
    expect(result.ok ? undefined : result.rejection.details?.also).toBe('zip');
  });

  it('PDF that is also a ZIP rejected', async () => {
    const archive = zip([{ name: 'payload.txt', data: Buffer.from('hello') }]);
    const result = await inspectParts(inspectorFor(folders), [
      {
        name: 'doc',
        filename: 'report.pdf',
        type: 'application/pdf',
        data: Buffer.concat([PDF, archive]),
      },
    ]);
    expect(reasonOf(result)).toBe('polyglot');
  });

  it('plain PDF accepted', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'doc', filename: 'report.pdf', type: 'application/pdf', data: PDF },
    ]);
    expect(reasonOf(result)).toBe('accepted');
  });

  it('PNG with HTML in its first bytes rejected', async () => {
    const data = Buffer.concat([
      PNG.subarray(0, 33),
      Buffer.from('<script>alert(1)</script>'),
      PNG.subarray(33),
    ]);
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data },
    ]);
    expect(reasonOf(result)).toBe('polyglot');
  });
});

describe('archive checks', () => {
  it('zip bomb rejected for its expansion ratio', async () => {
    const bomb = zip([{ name: 'zeros.bin', data: Buffer.alloc(50 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(100 * 1024);
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'archive', filename: 'bomb.zip', type: 'application/zip', data: bomb },
    ]);
    expect(reasonOf(result)).toBe('archive_ratio');
    expect(result.ok ? undefined : result.status).toBe(422);
  });

  it('archive over the uncompressed size limit rejected', async () => {
    const archive = zip([
      { name: 'a.bin', data: Buffer.alloc(3 * 1024 * 1024, 7), deflate: false },
    ]);
    const result = await inspectParts(
      inspectorFor(folders, { archives: { maxUncompressedSize: '2mb' }, maxFileSize: '4mb' }),
      [{ name: 'archive', filename: 'big.zip', type: 'application/zip', data: archive }],
    );
    expect(reasonOf(result)).toBe('archive_too_large');
  });

  it('archive with too many entries rejected', async () => {
    const entries = Array.from({ length: 12 }, (_, index) => ({
      name: `f${index}.txt`,
      data: Buffer.from('x'),
    }));
    const result = await inspectParts(inspectorFor(folders, { archives: { maxEntries: 10 } }), [
      { name: 'archive', filename: 'many.zip', type: 'application/zip', data: zip(entries) },
    ]);
    expect(reasonOf(result)).toBe('archive_too_many_entries');
  });

  it('entry name climbing out of the folder rejected', async () => {
    const archive = zip([{ name: '../../etc/cron.d/job', data: Buffer.from('* * * * * root id') }]);
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'archive', filename: 'slip.zip', type: 'application/zip', data: archive },
    ]);
    expect(reasonOf(result)).toBe('archive_path');
  });

  it('ordinary archive accepted', async () => {
    const archive = zip([
      { name: 'docs/readme.txt', data: Buffer.from('hello '.repeat(100)) },
      { name: 'docs/data.csv', data: Buffer.from('a,b\n1,2\n') },
    ]);
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'archive', filename: 'docs.zip', type: 'application/zip', data: archive },
    ]);
    expect(reasonOf(result)).toBe('accepted');
  });
});
