import ipaddr from 'ipaddr.js';

import { parseCidr, parseIp } from '../core/ip.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * A set of CIDR ranges for lists of thousands of entries, such as deny-list feeds. Ranges are
 * merged and sorted once, so a lookup is a binary search instead of a scan of every range.
 * IPv4 ranges are unsigned 32-bit numbers; IPv6 ranges are bigints, which are slower but
 * rarer in feeds.
 */
export class CidrSet {
  readonly size: number;
  private readonly v4Starts: Uint32Array;
  private readonly v4Ends: Uint32Array;
  private readonly v6Starts: bigint[];
  private readonly v6Ends: bigint[];

  /** Builds the set; throws InvalidArgumentError on an entry that is not a CIDR. */
  constructor(cidrs: Iterable<string>) {
    const v4: Array<[number, number]> = [];
    const v6: Array<[bigint, bigint]> = [];
    let size = 0;
    for (const text of cidrs) {
      const [network, bits] = parseCidr(text);
      size += 1;
      if (network.kind() === 'ipv4') v4.push(ipv4Range(network as ipaddr.IPv4, bits));
      else v6.push(ipv6Range(network as ipaddr.IPv6, bits));
    }
    this.size = size;
    const mergedV4 = merge(v4, (end) => end + 1);
    this.v4Starts = Uint32Array.from(mergedV4, (range) => range[0]);
    this.v4Ends = Uint32Array.from(mergedV4, (range) => range[1]);
    const mergedV6 = merge(v6, (end) => end + 1n);
    this.v6Starts = mergedV6.map((range) => range[0]);
    this.v6Ends = mergedV6.map((range) => range[1]);
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** Returns whether the address, as text, falls in a range; false for text that is no address. */
  has(ip: string): boolean {
    if (this.size === 0) return false;
    const v4 = ipv4Number(ip);
    if (v4 !== undefined) return search(this.v4Starts, this.v4Ends, v4);
    const address = parseIp(ip);
    if (address === undefined) return false;
    return this.contains(address);
  }

  contains(address: Address): boolean {
    if (address.kind() === 'ipv4') {
      return search(this.v4Starts, this.v4Ends, ipv4Range(address as ipaddr.IPv4, 32)[0]);
    }
    return search(this.v6Starts, this.v6Ends, ipv6Range(address as ipaddr.IPv6, 128)[0]);
  }
}

/**
 * Parses dotted-quad IPv4 text without allocating, which covers most requests. Anything else,
 * including IPv4-mapped IPv6, returns undefined and takes the general path.
 */
function ipv4Number(text: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots += 1;
    } else if (code >= 48 && code <= 57 && digits < 3) {
      part = part * 10 + (code - 48);
      digits += 1;
      if (part > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + part;
}

function ipv4Range(network: ipaddr.IPv4, bits: number): [number, number] {
  const [a, b, c, d] = network.octets as [number, number, number, number];
  const value = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const size = 2 ** (32 - bits);
  const start = value - (value % size);
  return [start, start + size - 1];
}

function ipv6Range(network: ipaddr.IPv6, bits: number): [bigint, bigint] {
  let value = 0n;
  for (const part of network.parts) value = (value << 16n) | BigInt(part);
  const hostBits = BigInt(128 - bits);
  const start = (value >> hostBits) << hostBits;
  return [start, start + (1n << hostBits) - 1n];
}

/** Sorts ranges and joins those that overlap or touch; `next` returns the value after an end. */
function merge<T extends number | bigint>(
  ranges: Array<[T, T]>,
  next: (end: T) => T,
): Array<[T, T]> {
  ranges.sort((left, right) => compare(left[0], right[0]));
  const merged: Array<[T, T]> = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range[0] <= next(last[1])) {
      if (range[1] > last[1]) last[1] = range[1];
    } else {
      merged.push([range[0], range[1]]);
    }
  }
  return merged;
}

function compare<T extends number | bigint>(left: T, right: T): number {
  if (left < right) return -1;
  return left > right ? 1 : 0;
}

/** Binary search for the last range starting at or below `value`. */
function search<T extends number | bigint>(
  starts: ArrayLike<T>,
  ends: ArrayLike<T>,
  value: T,
): boolean {
  let low = 0;
  let high = starts.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (starts[middle]! <= value) low = middle + 1;
    else high = middle - 1;
  }
  return high >= 0 && ends[high]! >= value;
}
