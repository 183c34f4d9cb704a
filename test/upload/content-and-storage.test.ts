import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { MULTIPART_TYPE, multipart, PNG } from './fixtures.js';
import { inspectorFor, inspectParts, reasonOf, tempFolders, type Folders } from './harness.js';

let folders: Folders;

beforeEach(async () => {
  folders = await tempFolders();
});

afterEach(async () => {
  await folders.cleanup();
});

const svg = (body: string): Buffer =>
  Buffer.from(
    `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">${body}</svg>`,
  );

describe('SVG checks', () => {
  const cases: Array<[string, string, string]> = [
    ['script element', '<script>alert(1)</script>', 'script'],
    ['event handler', '<rect width="1" height="1" onload="alert(1)"/>', 'event_handler'],
    ['foreignObject', '<foreignObject><div>x</div></foreignObject>', 'foreign_object'],
    ['external image', '<image href="https://example.com/a.png"/>', 'external_reference'],
    [
      'xlink script URL',
      '<a xlink:href="javascript:alert(1)"><text>x</text></a>',
      'external_reference',
    ],
    [
      'encoded script URL',
      '<a href="jav&#x61;script:alert(1)"><text>x</text></a>',
      'external_reference',
    ],
    [
      'style import',
      '<style>@import url(https://example.com/x.css);</style>',
      'external_reference',
    ],
    ['animated href', '<a><set attributeName="href" to="javascript:alert(1)"/></a>', 'script'],
  ];
  for (const [title, body, finding] of cases) {
    it(`SVG with ${title} rejected`, async () => {
      const result = await inspectParts(inspectorFor(folders), [
        { name: 'logo', filename: 'logo.svg', type: 'image/svg+xml', data: svg(body) },
      ]);
      expect(reasonOf(result)).toBe('svg_active_content');
      expect(result.ok ? undefined : result.rejection.details?.finding).toBe(finding);
    });
  }

  it('SVG with a DOCTYPE rejected', async () => {
    const data = Buffer.from(
      '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>',
    );
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'logo', filename: 'logo.svg', type: 'image/svg+xml', data },
    ]);
    expect(reasonOf(result)).toBe('svg_active_content');
  });

  it('plain SVG with local references accepted', async () => {
    const body =
      '<defs><linearGradient id="g"/></defs><rect fill="url(#g)" width="10" height="10"/><use href="#g"/>';
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'logo', filename: 'logo.svg', type: 'image/svg+xml', data: svg(body) },
    ]);
    expect(reasonOf(result)).toBe('accepted');
  });
});

describe('HTML checks', () => {
  it('HTML with an event handler rejected', async () => {
    const data = Buffer.from('<p>Hello</p><img src=x onerror=alert(1)>');
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'page', filename: 'page.html', type: 'text/html', data },
    ]);
    expect(reasonOf(result)).toBe('html_active_content');
  });

  it('HTML without active content accepted', async () => {
    const data = Buffer.from('<h1>Notes</h1><p>Plain <b>text</b>.</p>');
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'page', filename: 'page.html', type: 'text/html', data },
    ]);
    expect(reasonOf(result)).toBe('accepted');
  });
});

describe('CSV formula checks', () => {
  const sheet = Buffer.from(
    'name,total\r\n=HYPERLINK("http://x"),1\r\n"@SUM(A1)",2\r\nplain,3\r\n',
  );

  it('formula cells neutralised by default', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'sheet', filename: 'data.csv', type: 'text/csv', data: sheet },
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const file = result.files[0]!;
    const stored = await readFile(join(folders.dir, file.id), 'utf8');
    expect(stored).toBe(
      'name,total\r\n\'=HYPERLINK("http://x"),1\r\n"\'@SUM(A1)",2\r\nplain,3\r\n',
    );
    expect(file.flags).toEqual(['csv_neutralised']);
    expect(file.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
  });

  it('formula cells flagged when configured', async () => {
    const result = await inspectParts(inspectorFor(folders, { csv: { formulas: 'flag' } }), [
      { name: 'sheet', filename: 'data.csv', type: 'text/csv', data: sheet },
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.files[0]!.flags).toEqual(['csv_formula']);
    expect(await readFile(join(folders.dir, result.files[0]!.id))).toEqual(sheet);
  });

  it('formula cells rejected when configured', async () => {
    const result = await inspectParts(inspectorFor(folders, { csv: { formulas: 'reject' } }), [
      { name: 'sheet', filename: 'data.csv', type: 'text/csv', data: sheet },
    ]);
    expect(reasonOf(result)).toBe('csv_formula');
    expect(result.ok ? undefined : result.rejection.details?.cells).toBe(2);
  });
});

describe('streaming limits', () => {
  it('oversized file cut while streaming', async () => {
    const head = Buffer.from(
      `--test-boundary-7d1c2e\r\nContent-Disposition: form-data; name="avatar"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
    );
    let produced = 0;
    const total = 64 * 1024 * 1024;
    const source = new Readable({
      read() {
        if (produced === 0) this.push(head);
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 1));
      },
    });
    const inspector = inspectorFor(folders, { maxFileSize: '1mb', maxTotalSize: '128mb' });
    const result = await inspector.inspectSource(
      { 'content-type': MULTIPART_TYPE },
      { kind: 'stream', stream: source, keepOpen: false },
    );
    expect(reasonOf(result)).toBe('file_too_large');
    expect(result.ok ? undefined : result.status).toBe(413);
    expect(produced).toBeLessThan(8 * 1024 * 1024);
    expect(await readdir(folders.dir)).toEqual([]);
  });

  it('body over maxTotalSize cut while streaming', async () => {
    const body = multipart([
      { name: 'a', filename: 'a.png', type: 'image/png', data: Buffer.alloc(600 * 1024, 1) },
      { name: 'b', filename: 'b.png', type: 'image/png', data: Buffer.alloc(600 * 1024, 1) },
    ]);
    const inspector = inspectorFor(folders, { maxFileSize: '1mb', maxTotalSize: '1mb' });
    const result = await inspector.inspectSource(
      { 'content-type': MULTIPART_TYPE },
      {
        kind: 'stream',
        stream: Readable.from([body.subarray(0, 700 * 1024), body.subarray(700 * 1024)]),
        keepOpen: false,
      },
    );
    expect(reasonOf(result)).toBe('total_too_large');
  });

  it('too many files rejected', async () => {
    const file = { name: 'f', filename: 'a.png', type: 'image/png', data: PNG };
    const result = await inspectParts(inspectorFor(folders, { maxFiles: 2 }), [file, file, file]);
    expect(reasonOf(result)).toBe('too_many_files');
  });

  it('too many fields rejected', async () => {
    const field = { name: 'note', value: 'x' };
    const result = await inspectParts(inspectorFor(folders, { maxFields: 2 }), [
      field,
      field,
      field,
      { name: 'f', filename: 'a.png', type: 'image/png', data: PNG },
    ]);
    expect(reasonOf(result)).toBe('too_many_fields');
  });
});

describe('optional files', () => {
  it('empty file input skipped', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'title', value: 'no picture' },
      { name: 'avatar', filename: '', type: 'application/octet-stream', data: Buffer.alloc(0) },
    ]);
    expect(result.ok).toBe(true);
    expect(result.ok ? result.files : undefined).toEqual([]);
    expect(result.ok ? result.fields : undefined).toEqual([{ name: 'title', value: 'no picture' }]);
  });
});

describe('storage', () => {
  it('stored file has mode 0600 and its SHA-256 recorded', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'avatar', filename: '../../etc/passwd.png', type: 'image/png', data: PNG },
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const file = result.files[0]!;
    expect(file.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(file.name).toBe('passwd.png');
    const info = await stat(join(folders.dir, file.id));
    expect(info.mode & 0o777).toBe(0o600);
    expect((await stat(folders.dir)).mode & 0o777).toBe(0o700);
    expect(file.sha256).toBe(createHash('sha256').update(PNG).digest('hex'));
    const record = JSON.parse(
      await readFile(join(folders.dir, `${file.id}.json`), 'utf8'),
    ) as Record<string, unknown>;
    expect(record).toMatchObject({
      id: file.id,
      sha256: file.sha256,
      size: PNG.length,
      status: 'accepted',
      type: 'image/png',
    });
  });

  it('rejected file moved to quarantine with its reason', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: Buffer.from('MZ fake') },
    ]);
    expect(reasonOf(result)).toBe('type_mismatch');
    expect(await readdir(folders.dir)).toEqual([]);
    const names = await readdir(folders.quarantineDir);
    const recordName = names.find((name) => name.endsWith('.json'))!;
    const record = JSON.parse(
      await readFile(join(folders.quarantineDir, recordName), 'utf8'),
    ) as Record<string, unknown>;
    expect(record).toMatchObject({ status: 'rejected', reason: 'type_mismatch' });
    expect((await stat(join(folders.quarantineDir, String(record.id)))).mode & 0o777).toBe(0o600);
  });

  it('reference body describes the stored files', async () => {
    const result = await inspectParts(inspectorFor(folders), [
      { name: 'title', value: 'holiday' },
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.contentType).toBe('application/json');
    const reference = JSON.parse(result.body.toString('utf8')) as {
      files: unknown[];
      fields: unknown[];
    };
    expect(reference.fields).toEqual([{ name: 'title', value: 'holiday' }]);
    expect(reference.files).toEqual([
      {
        id: result.files[0]!.id,
        field: 'avatar',
        name: 'me.png',
        size: PNG.length,
        sha256: createHash('sha256').update(PNG).digest('hex'),
        type: 'image/png',
        status: 'accepted',
      },
    ]);
  });

  it('stream forwarding rebuilds the multipart body', async () => {
    const inspector = inspectorFor(folders, {
      storage: { dir: folders.dir, quarantineDir: folders.quarantineDir, forward: 'stream' },
    });
    const result = await inspectParts(inspector, [
      { name: 'title', value: 'holiday' },
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.contentType).toMatch(/^multipart\/form-data; boundary=bulwark-[0-9a-f]{32}$/);
    const body = result.body;
    expect(body.includes(PNG)).toBe(true);
    expect(body.toString('latin1')).toContain('name="title"\r\n\r\nholiday\r\n');
    expect(await readdir(folders.dir)).toEqual([]);
  });
});
