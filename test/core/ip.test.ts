import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/core/errors.js';
import { CidrList, ipKey, normalizeIp, parseCidr, resolveClientIp } from '../../src/core/ip.js';

const NO_PROXIES = new CidrList([]);
const PRIVATE_PROXIES = new CidrList(['10.0.0.0/8', '::1']);

describe('normalizeIp', () => {
  it.each([
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    [' 198.51.100.7 ', '198.51.100.7'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['not-an-ip', 'not-an-ip'],
  ])('%s becomes %s', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });
});

describe('resolveClientIp', () => {
  it('peer is the client without proxies', () => {
    expect(resolveClientIp('203.0.113.9', '198.51.100.1', NO_PROXIES)).toBe('203.0.113.9');
  });

  it('IPv4-mapped peer becomes IPv4', () => {
    expect(resolveClientIp('::ffff:203.0.113.9', undefined, NO_PROXIES)).toBe('203.0.113.9');
  });

  it('untrusted peer ignores forwarded-for', () => {
    expect(resolveClientIp('203.0.113.9', '198.51.100.1', PRIVATE_PROXIES)).toBe('203.0.113.9');
  });

  it('right-most untrusted address taken', () => {
    // The left-most entry is whatever the client sent; the proxy appended 203.0.113.9.
    const forwardedFor = '198.51.100.1, 203.0.113.9, 10.0.0.2';

    expect(resolveClientIp('10.0.0.1', forwardedFor, PRIVATE_PROXIES)).toBe('203.0.113.9');
  });

  it('header lines read as one list', () => {
    const forwardedFor = ['198.51.100.1', '203.0.113.9, 10.0.0.2'];

    expect(resolveClientIp('10.0.0.1', forwardedFor, PRIVATE_PROXIES)).toBe('203.0.113.9');
  });

  it('all hops trusted gives left-most', () => {
    expect(resolveClientIp('10.0.0.1', '10.0.0.3, 10.0.0.2', PRIVATE_PROXIES)).toBe('10.0.0.3');
  });

  it('malformed hop stops the walk', () => {
    const forwardedFor = '203.0.113.9, not-an-address, 10.0.0.2';

    expect(resolveClientIp('10.0.0.1', forwardedFor, PRIVATE_PROXIES)).toBe('10.0.0.2');
    expect(resolveClientIp('10.0.0.1', '203.0.113.9, ', PRIVATE_PROXIES)).toBe('10.0.0.1');
    expect(resolveClientIp('10.0.0.1', '[2001:db8::1', PRIVATE_PROXIES)).toBe('10.0.0.1');
  });

  it.each([
    ['203.0.113.9:4711', '203.0.113.9'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['2001:db8::2', '2001:db8::2'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
  ])('hop %s resolves to %s', (hop, expected) => {
    expect(resolveClientIp('10.0.0.1', hop, PRIVATE_PROXIES)).toBe(expected);
  });

  it('IPv4-mapped peer matches IPv4 range', () => {
    expect(resolveClientIp('::ffff:10.0.0.1', '203.0.113.9', PRIVATE_PROXIES)).toBe('203.0.113.9');
  });

  it('IPv4-mapped range matches IPv4 peer', () => {
    const mapped = new CidrList(['::ffff:10.0.0.0/104']);

    expect(resolveClientIp('10.1.2.3', '203.0.113.9', mapped)).toBe('203.0.113.9');
    expect(resolveClientIp('11.0.0.1', '203.0.113.9', mapped)).toBe('11.0.0.1');
  });

  it('unparsable peer returned as given', () => {
    expect(resolveClientIp('some-socket', '203.0.113.9', PRIVATE_PROXIES)).toBe('some-socket');
    expect(resolveClientIp(undefined, '203.0.113.9', PRIVATE_PROXIES)).toBe('unknown');
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/33', 'invalid CIDR "10.0.0.0/33"'],
    ['10.0.0.0/x', 'invalid CIDR "10.0.0.0/x"'],
    ['2001:db8::/129', 'invalid CIDR "2001:db8::/129"'],
    ['proxy.internal/8', 'invalid CIDR "proxy.internal/8"'],
  ])('%s names the value', (text, message) => {
    expect(() => parseCidr(text)).toThrow(InvalidArgumentError);
    expect(() => parseCidr(text)).toThrow(message);
  });
});

describe('ipKey', () => {
  it('IPv4 is its own key', () => {
    expect(ipKey('203.0.113.9', 64)).toBe('203.0.113.9');
  });

  it('IPv4-mapped IPv6 keyed as IPv4', () => {
    expect(ipKey('::ffff:203.0.113.9', 64)).toBe('203.0.113.9');
  });

  it('rotation inside one /64 shares a key', () => {
    const keys = ['2001:db8:1:2::1', '2001:db8:1:2:abcd:ef01:2345:6789', '2001:db8:1:2:ffff::'].map(
      (address) => ipKey(address, 64),
    );

    expect(new Set(keys)).toEqual(new Set(['2001:db8:1:2::/64']));
  });

  it('different /64 gets another key', () => {
    expect(ipKey('2001:db8:1:3::1', 64)).not.toBe(ipKey('2001:db8:1:2::1', 64));
  });

  it('prefix is configurable', () => {
    expect(ipKey('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(ipKey('2001:db8:1:3::1', 48)).toBe('2001:db8:1::/48');
    expect(ipKey('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2::1/128');
    expect(ipKey('2001:db8:1:2::2', 128)).toBe('2001:db8:1:2::2/128');
    expect(ipKey('2001:db8:1:2::1', 56)).toBe('2001:db8:1::/56');
    expect(ipKey('2001:db8:1:2ff::1', 56)).toBe('2001:db8:1:200::/56');
  });
});
