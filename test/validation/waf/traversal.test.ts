import { describe, expect, it } from 'vitest';

import { decodeVariants } from '../../../src/validation/waf/decode.js';
import { detectTraversal, foldPath } from '../../../src/validation/waf/traversal.js';
import type { DetectContext } from '../../../src/validation/waf/types.js';

const level1: DetectContext = { paranoia: 1, strict: false };
/** Rule ids over every decoded form, as the engine runs the detector. */
const ids = (input: string, context: DetectContext = level1): string[] =>
  decodeVariants(input).flatMap((variant) =>
    detectTraversal(variant, context).map((hit) => hit.ruleId),
  );

describe('detectTraversal', () => {
  it.each([
    '../../../etc/passwd',
    '..\\..\\..\\windows\\win.ini',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '%252e%252e%252f%252e%252e%252fboot.ini',
    '%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd',
    '%uff0e%uff0e%u2216%uff0e%uff0e%u2216boot.ini',
    '....//....//etc/passwd',
    '0x2e0x2e0x2f0x2e0x2e0x2fetc0x2fissue',
  ])('detects the dot-dot sequence in %j', (input) => {
    expect(ids(input)).toContain('traversal-001-dot-dot-sequence');
  });

  it.each([
    '/etc/passwd',
    'etc/shadow%00',
    'C:\\boot.ini',
    '/proc/self/environ',
    'Li4vLi4vZXRjL3Bhc3N3ZA==',
  ])('detects the sensitive file %j', (input) => {
    expect(ids(input)).toContain('traversal-002-sensitive-file');
  });

  it('detects file URLs and system paths', () => {
    expect(ids('file:///etc/passwd')).toContain('traversal-003-file-url');
    expect(ids('/var/log/nginx/access.log')).toContain('traversal-004-system-path');
    expect(ids('C:/program files (x86)/apache group/apache2/conf/httpd.conf')).toContain(
      'traversal-004-system-path',
    );
  });

  it('reports other system folders from paranoia 2', () => {
    for (const path of [
      '/tmp/report.csv',
      '/usr/local/bin/node',
      'C:\\Program Files\\MyApp\\app.exe',
    ]) {
      expect(ids(path)).toEqual([]);
      expect(ids(path, { paranoia: 2, strict: false })).toContain(
        'traversal-015-other-system-path',
      );
    }
    expect(ids('/usr/lib/cron/log')).toContain('traversal-004-system-path');
  });

  it('file URL to user document', () => {
    const link = 'file:///C:/Users/me/Documents/report.pdf';

    expect(ids(link)).toEqual([]);
    expect(ids(link, { paranoia: 2, strict: false })).toContain('traversal-014-local-file-url');
  });

  it('leading dot-dot in path value', () => {
    expect(ids('../config.js')).toContain('traversal-012-leading-dot-dot');
  });

  it.each([
    '../README.md is referenced in the docs folder',
    'We use /etc/hosts for local overrides',
    'The path C:\\Windows\\System32 appears in the crash log',
    '/home/alice/projects/report.md',
    'C:\\Users\\Public\\Documents\\invoice.pdf',
    'reports/2024/Q1-summary.xlsx',
    'https://example.com/search?q=red+shoes&page=2',
    'Wait... what?',
    'error.log',
    'prod.env',
    'myetc/passwd',
  ])('passes %j at paranoia 1', (input) => {
    expect(ids(input)).toEqual([]);
  });

  it('reports paths in prose from paranoia 3', () => {
    const level3: DetectContext = { paranoia: 3, strict: false };

    expect(ids('../README.md is referenced in the docs folder', level3)).toContain(
      'traversal-008-dot-dot-in-text',
    );
    expect(ids('We use /etc/hosts for local overrides', level3)).toContain(
      'traversal-009-sensitive-file-in-text',
    );
  });

  it('file-path field rejects escaping paths', () => {
    const strict: DetectContext = { paranoia: 1, strict: true };

    expect(ids('../x', strict)).toContain('traversal-011-sink-escape');
    expect(ids('/srv/data', strict)).toContain('traversal-011-sink-escape');
    expect(ids('reports/q1.pdf', strict)).toEqual([]);
  });
});

describe('foldPath', () => {
  it('folds lookalike separators and invalid escapes', () => {
    expect(foldPath('..\u2215..\u2216')).toBe('../..\\');
    expect(foldPath('..\ufffd%qf..')).toBe('../..');
  });
});
