import ipaddr from 'ipaddr.js';

import { InvalidArgumentError } from './errors.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/**
 * Parses an address, turning IPv4-mapped IPv6 (`::ffff:192.0.2.1`) into IPv4 so that one
 * client has one identity whichever socket family it arrived on. Returns undefined when the
 * text is not an IP address.
 */
export function parseIp(text: string): Address | undefined {
  const cached = parsedAddresses.get(text);
  if (cached !== undefined) return cached;
  const address = parseUncached(text);
  if (address !== undefined) {
    // The same few peers and proxies come back on every request; the bound keeps addresses
    // taken from headers from growing the map without limit.
    if (parsedAddresses.size >= MAX_PARSED_ADDRESSES) parsedAddresses.clear();
    parsedAddresses.set(text, address);
  }
  return address;
}

const parsedAddresses = new Map<string, Address>();
const MAX_PARSED_ADDRESSES = 4096;

function parseUncached(text: string): Address | undefined {
  const trimmed = text.trim();
  // Zone ids (fe80::1%eth0) name a local interface, not a client; drop them before parsing.
  const withoutZone = trimmed.includes('%') ? trimmed.slice(0, trimmed.indexOf('%')) : trimmed;
  if (!ipaddr.isValid(withoutZone)) return undefined;
  const address = ipaddr.parse(withoutZone);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (address as ipaddr.IPv6).toIPv4Address();
  }
  return address;
}

/** Normalises an address to its canonical text, or returns the input when it is not an IP. */
export function normalizeIp(text: string): string {
  return parseIp(text)?.toString() ?? text;
}

const normalizedPeers = new Map<string, string>();
const MAX_CACHED_PEERS = 4096;

/**
 * normalizeIp with a bounded cache, for socket peer addresses: they repeat across the
 * requests of a connection and parsing dominates the cost of reading them.
 */
export function normalizePeerIp(text: string): string {
  let normalized = normalizedPeers.get(text);
  if (normalized === undefined) {
    if (normalizedPeers.size >= MAX_CACHED_PEERS) normalizedPeers.clear();
    normalized = normalizeIp(text);
    normalizedPeers.set(text, normalized);
  }
  return normalized;
}

/** A set of CIDR ranges, matched against parsed addresses. */
export class CidrList {
  private readonly ranges: Range[];

  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.map(parseCidr);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  contains(address: Address): boolean {
    for (const [network, bits] of this.ranges) {
      if (network.kind() === address.kind() && address.match(network, bits)) return true;
    }
    return false;
  }
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address (a single host). */
export function parseCidr(text: string): Range {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  const bitsText = slash === -1 ? undefined : text.slice(slash + 1);
  if (!address)
    throw new InvalidArgumentError(
      `invalid CIDR "${text}": expected an address with an optional /prefix`,
    );
  // Count the prefix in the family the text was written in: parseIp has already turned an
  // IPv4-mapped address into IPv4, but its prefix is still out of 128.
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const maxBits = address.kind() === 'ipv4' && !addressText.includes(':') ? 32 : 128;
  const bits = bitsText === undefined ? maxBits : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > maxBits) {
    throw new InvalidArgumentError(
      `invalid CIDR "${text}": prefix must be an integer from 0 to ${maxBits}`,
    );
  }
  // An IPv4-mapped range such as ::ffff:10.0.0.0/104 becomes 10.0.0.0/8.
  const mappedBits = maxBits === 128 && address.kind() === 'ipv4' ? bits - 96 : bits;
  return [address, Math.max(0, mappedBits)];
}

/**
 * Resolves the client address. Without trusted proxies the TCP peer is the client and
 * `X-Forwarded-For` is ignored, because any client can send it. With trusted proxies, the
 * header is walked from the right, starting with the entry our nearest proxy appended. The
 * first address outside the trusted list is the client, because entries left of it are
 * client-controlled.
 */
export function resolveClientIp(
  remoteAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: CidrList,
): string {
  const peer = parseIp(remoteAddress ?? '');
  if (!peer) return remoteAddress ?? 'unknown';
  if (trusted.isEmpty || !trusted.contains(peer) || forwardedFor === undefined)
    return peer.toString();

  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  let client: Address = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseIp(stripPort(hops[i]!));
    // A malformed entry cannot be trusted further, so the last valid address is the client.
    if (!hop) break;
    client = hop;
    if (!trusted.contains(hop)) break;
  }
  return client.toString();
}

/**
 * A CDN in front of the gateway that names the client in a header of its own, such as
 * Cloudflare's `CF-Connecting-IP`.
 */
export interface CdnClientHeader {
  /** Header name in lower case. */
  header: string;
  /** The CDN's edge ranges; the header is believed only from these addresses. */
  ranges: CidrList;
}

/**
 * Returns the address in the CDN's header when the client resolved so far (the TCP peer, or
 * the nearest untrusted hop of `X-Forwarded-For`) is one of the CDN's edges. Otherwise, or
 * when the header is missing, sent twice or not one address, `resolved` stays the client,
 * because anyone can send the header straight to the gateway.
 */
export function resolveCdnClientIp(
  resolved: string,
  value: string | string[] | undefined,
  cdn: CdnClientHeader,
): string {
  if (typeof value !== 'string') return resolved;
  const edge = parseIp(resolved);
  if (edge === undefined || !cdn.ranges.contains(edge)) return resolved;
  return parseIp(value)?.toString() ?? resolved;
}

function stripPort(hop: string): string {
  const text = hop.trim();
  if (text.startsWith('[')) {
    // Without its closing bracket the entry is malformed; keep it whole so it fails to parse.
    const close = text.indexOf(']');
    return close === -1 ? text : text.slice(1, close);
  }
  const colon = text.indexOf(':');
  return colon !== -1 && colon === text.lastIndexOf(':') ? text.slice(0, colon) : text;
}

/**
 * Returns the rate-limit identity of an address: IPv4 as is, IPv6 as its network prefix,
 * because one subscriber is usually assigned a whole /64 and can rotate addresses inside it.
 */
export function ipKey(ip: string, ipv6PrefixBits: number): string {
  const address = parseIp(ip);
  if (!address) return ip;
  if (address.kind() === 'ipv4') return address.toString();
  const bytes = (address as ipaddr.IPv6).toByteArray();
  for (let bit = ipv6PrefixBits; bit < 128; bit++) {
    bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixBits}`;
}
