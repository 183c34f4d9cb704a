import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CidrSet } from '../../src/ddos/cidr-set.js';
import { describeIssues, parseFeed } from '../../src/ddos/feed.js';
import { IpList } from '../../src/ddos/ip-lists.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';

describe('feed parsing', () => {
  it('common feed formats', () => {
    const text = [
      '\uFEFF# FireHOL style header',
      '192.0.2.0/24',
      '',
      '198.51.100.7          # a single address',
      '; Spamhaus DROP header',
      '203.0.113.0/25 ; SBL000001',
      '  2001:db8::/32\t',
      '10.0.0.1\r',
    ].join('\n');
    const parsed = parseFeed(text);

    expect(parsed.issues).toEqual([]);
    expect(parsed.cidrs).toEqual([
      '192.0.2.0/24',
      '198.51.100.7',
      '203.0.113.0/25',
      '2001:db8::/32',
      '10.0.0.1',
    ]);
  });

  it('bad lines named by number', () => {
    const text = ['192.0.2.0/24', 'not-an-ip', '# ok', '198.51.100.0/33', '1.2.3.4 5.6.7.8'].join(
      '\n',
    );
    const parsed = parseFeed(text);

    expect(parsed.cidrs).toEqual(['192.0.2.0/24']);
    expect(parsed.issues.map((issue) => issue.line)).toEqual([2, 4, 5]);
    expect(parsed.issues[0]!.message).toContain('"not-an-ip"');
    expect(parsed.issues[2]!.message).toContain('one address or CIDR');
  });

  it('long line and issue summary bounded', () => {
    const lines = [`${'1'.repeat(300)}`, ...Array.from({ length: 15 }, () => 'junk')];
    const parsed = parseFeed(lines.join('\n'));

    expect(parsed.issues[0]).toEqual({ line: 1, message: 'longer than 256 characters' });
    const summary = describeIssues(parsed.issues);
    expect(summary).toContain('line 10:');
    expect(summary).not.toContain('line 11:');
    expect(summary).toMatch(/and 6 more$/);
  });
});

describe('CidrSet', () => {
  it('IPv4 ranges merged and searched', () => {
    const set = new CidrSet(['10.0.0.0/8', '10.1.0.0/16', '192.0.2.5', '192.0.2.6', '0.0.0.0/32']);

    for (const ip of ['10.0.0.0', '10.255.255.255', '192.0.2.5', '192.0.2.6', '0.0.0.0'])
      expect(set.has(ip), ip).toBe(true);
    for (const ip of ['9.255.255.255', '11.0.0.0', '192.0.2.4', '192.0.2.7', '0.0.0.1'])
      expect(set.has(ip), ip).toBe(false);
  });

  it('IPv6 and mapped addresses', () => {
    const set = new CidrSet(['2001:db8::/32', '::ffff:198.51.100.0/120']);

    expect(set.has('2001:db8:ffff::1')).toBe(true);
    expect(set.has('2001:db9::1')).toBe(false);
    // An IPv4-mapped range contains the IPv4 addresses, whichever form the client arrives in.
    expect(set.has('198.51.100.20')).toBe(true);
    expect(set.has('::ffff:198.51.100.20')).toBe(true);
    expect(set.has('198.51.101.1')).toBe(false);
  });

  it('text that is no address matches nothing', () => {
    const set = new CidrSet(['0.0.0.0/0', '::/0']);

    expect(set.has('unknown')).toBe(false);
    expect(set.has('1.2.3.4.5')).toBe(false);
    expect(set.has('256.1.1.1')).toBe(false);
    expect(set.has('1.2.3.4')).toBe(true);
    expect(set.has('::1')).toBe(true);
  });
});

describe('IP list files', () => {
  let dir: string;
  const lists: IpList[] = [];
  const logLines: Array<Record<string, unknown>> = [];
  const logger = createLogger(
    { level: 'info' },
    { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  );

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bwk-lists-'));
    logLines.length = 0;
  });

  afterEach(() => {
    for (const list of lists.splice(0)) list.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(file: string, maxFileBytes = 1024 * 1024): IpList {
    const list = new IpList({
      name: 'deny',
      entries: ['192.0.2.1', { file }],
      reloadIntervalMs: 60_000,
      maxFileBytes,
      logger,
    });
    lists.push(list);
    return list;
  }

  it('invalid file rejected at start', () => {
    const file = join(dir, 'drop.txt');
    writeFileSync(file, '198.51.100.0/24\nbogus\n');

    let caught: unknown;
    try {
      open(file);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issue = (caught as ConfigError).issues[0]!;
    expect(issue.code).toBe('BWK_ERR_CONFIG_IP_LIST');
    expect(issue.path).toBe('ipLists.deny.1.file');
    expect(issue.message).toContain('line 2: not an address or CIDR');
  });

  it('missing and oversized files rejected at start', () => {
    expect(() => open(join(dir, 'absent.txt'))).toThrow(/cannot read/);
    const big = join(dir, 'big.txt');
    writeFileSync(big, '198.51.100.0/24\n'.repeat(100));
    expect(() => open(big, 1000)).toThrow(/1600 bytes, more than the limit of 1000/);
  });

  it('changed file reloaded without restart', async () => {
    const file = join(dir, 'drop.txt');
    writeFileSync(file, '198.51.100.0/24\n');
    const list = open(file);
    expect(list.has('198.51.100.9')).toBe(true);
    expect(list.has('203.0.113.9')).toBe(false);
    expect(list.has('192.0.2.1')).toBe(true);

    // Replaced by rename, as feed updaters do, so the inode changes.
    writeFileSync(`${file}.new`, '203.0.113.0/24 ; SBL1\n');
    renameSync(`${file}.new`, file);
    await list.reload();

    expect(list.has('198.51.100.9')).toBe(false);
    expect(list.has('203.0.113.9')).toBe(true);
    expect(list.has('192.0.2.1')).toBe(true);
    expect(logLines.some((line) => line.msg === 'IP deny list reloaded')).toBe(true);
  });

  it('broken new file keeps old list', async () => {
    const file = join(dir, 'drop.txt');
    writeFileSync(file, '198.51.100.0/24\n');
    const list = open(file);

    writeFileSync(file, '203.0.113.0/24\n999.1.1.1\n');
    await list.reload();
    expect(list.has('198.51.100.9')).toBe(true);
    expect(list.has('203.0.113.9')).toBe(false);
    const failure = logLines.find((line) => line.level === 50);
    expect(failure?.msg).toContain('reload failed');
    expect(JSON.stringify(failure)).toContain('line 2');

    // The failure is logged once per version of the file, not at every check.
    await list.reload();
    expect(logLines.filter((line) => line.level === 50)).toHaveLength(1);

    rmSync(file);
    await list.reload();
    expect(list.has('198.51.100.9')).toBe(true);

    writeFileSync(file, '203.0.113.0/24\n');
    await list.reload();
    expect(list.has('203.0.113.9')).toBe(true);
    expect(list.has('198.51.100.9')).toBe(false);
  });
});
