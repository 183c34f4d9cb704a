import ipaddr from 'ipaddr.js';

import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { parseCidr, parseIp } from '../core/ip.js';
import { problem } from '../core/problem.js';
import { EventSampler } from './event-sampler.js';
import type { IpList } from './ip-lists.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** One ban of an address or network. Times are epoch milliseconds. */
export interface Ban {
  /** The banned network in canonical form with its prefix: `203.0.113.7/32`, `2001:db8::/64`. */
  subject: string;
  /** The event type that triggered an automatic ban, or the operator's text. */
  reason: string;
  source: 'auto' | 'manual';
  /** Escalation level: 1 for the first automatic ban in a row, 0 for a manual ban. */
  level: number;
  createdAt: number;
  expiresAt: number;
}

/** Returns the canonical `network/bits` text of a CIDR or address; throws on invalid text. */
export function canonicalSubject(text: string): string {
  const [address, bits] = parseCidr(text.trim());
  return networkOf(address, bits);
}

/**
 * Returns what an automatic ban of an address covers: the address itself for IPv4, its
 * network of `ipv6Prefix` bits for IPv6, because one IPv6 subscriber is usually assigned a
 * whole /64 and can move to any address inside it. Undefined for text that is no address.
 */
export function banSubjectOf(ip: string, ipv6Prefix: number): string | undefined {
  const address = parseIp(ip);
  if (address === undefined) return undefined;
  return networkOf(address, address.kind() === 'ipv4' ? 32 : ipv6Prefix);
}

function networkOf(address: Address, bits: number): string {
  const bytes = address.toByteArray();
  for (let bit = bits; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${bits}`;
}

/** Reads a ban from its JSON form (Redis, notices); undefined when a field is missing. */
export function decodeBan(text: string): Ban | undefined {
  let value: Partial<Ban>;
  try {
    value = JSON.parse(text) as Partial<Ban>;
  } catch {
    return undefined;
  }
  const valid =
    typeof value.subject === 'string' &&
    typeof value.reason === 'string' &&
    (value.source === 'auto' || value.source === 'manual') &&
    typeof value.level === 'number' &&
    typeof value.createdAt === 'number' &&
    typeof value.expiresAt === 'number';
  return valid ? (value as Ban) : undefined;
}

const MAX_CACHED_LOOKUPS = 10_000;

/**
 * The bans this process enforces, kept in memory so that the guard decides without I/O.
 * With Redis this is a copy of the shared list, kept current by notices and full reloads.
 *
 * A lookup masks the client address to each prefix length that some ban uses and looks the
 * network up by its text, so its cost grows with the number of distinct prefix lengths
 * (usually two: /32 and /64), not with the number of bans.
 */
export class BanList {
  private readonly bans = new Map<string, Ban>();
  /** Subjects banned by this instance alone while Redis was unreachable. */
  private readonly localOnly = new Set<string>();
  private readonly prefixes = { ipv4: new Map<number, number>(), ipv6: new Map<number, number>() };
  private readonly lookups = new Map<string, Ban | null>();

  get size(): number {
    return this.bans.size;
  }

  /** Returns the ban in force for an address, if any. */
  find(ip: string, now: number): Ban | undefined {
    if (this.bans.size === 0) return undefined;
    let ban = this.lookups.get(ip);
    if (ban === undefined) {
      ban = this.search(ip) ?? null;
      if (this.lookups.size >= MAX_CACHED_LOOKUPS) this.lookups.clear();
      this.lookups.set(ip, ban);
    }
    return ban !== null && ban.expiresAt > now ? ban : undefined;
  }

  put(ban: Ban, options: { localOnly?: boolean } = {}): void {
    if (!this.bans.has(ban.subject)) this.countPrefix(ban.subject, 1);
    this.bans.set(ban.subject, ban);
    if (options.localOnly === true) this.localOnly.add(ban.subject);
    else this.localOnly.delete(ban.subject);
    this.lookups.clear();
  }

  remove(subject: string): Ban | undefined {
    const ban = this.bans.get(subject);
    if (ban === undefined) return undefined;
    this.bans.delete(subject);
    this.localOnly.delete(subject);
    this.countPrefix(subject, -1);
    this.lookups.clear();
    return ban;
  }

  /**
   * Replaces the list with a full copy from the shared store. Bans this instance made alone
   * while the store was unreachable stay until they expire, because the store never saw them.
   */
  replaceAll(bans: readonly Ban[], now: number): void {
    const kept = [...this.localOnly]
      .map((subject) => this.bans.get(subject)!)
      .filter((ban) => ban.expiresAt > now);
    this.bans.clear();
    this.localOnly.clear();
    this.prefixes.ipv4.clear();
    this.prefixes.ipv6.clear();
    for (const ban of bans) this.put(ban);
    for (const ban of kept) if (!this.bans.has(ban.subject)) this.put(ban, { localOnly: true });
    this.lookups.clear();
  }

  /** Drops expired bans; lookups ignore them anyway, this only frees memory. */
  sweep(now: number): void {
    for (const ban of [...this.bans.values()]) if (ban.expiresAt <= now) this.remove(ban.subject);
  }

  private search(ip: string): Ban | undefined {
    const address = parseIp(ip);
    if (address === undefined) return undefined;
    const prefixes = address.kind() === 'ipv4' ? this.prefixes.ipv4 : this.prefixes.ipv6;
    let found: Ban | undefined;
    // Every matching ban is looked at, so that the one that ends last decides.
    for (const bits of prefixes.keys()) {
      const ban = this.bans.get(networkOf(address, bits));
      if (ban !== undefined && (found === undefined || ban.expiresAt > found.expiresAt))
        found = ban;
    }
    return found;
  }

  private countPrefix(subject: string, delta: number): void {
    const slash = subject.lastIndexOf('/');
    const bits = Number(subject.slice(slash + 1));
    const prefixes = subject.includes(':') ? this.prefixes.ipv6 : this.prefixes.ipv4;
    const count = (prefixes.get(bits) ?? 0) + delta;
    if (count > 0) prefixes.set(bits, count);
    else prefixes.delete(bits);
  }
}

/**
 * Rejects banned clients with 403 and `Retry-After` until the ban ends. It runs first, from
 * memory, so a banned flood costs one map lookup per request. Allowlisted addresses always
 * pass, even inside a banned network. `ban.rejected` is reported for the first rejection of
 * each ban and then at most every ten seconds, with the count of those left unreported.
 */
export class BanGuard implements Guard {
  readonly name = 'ban';
  private readonly sampler = new EventSampler();

  constructor(
    private readonly bans: BanList,
    private readonly allowlist: IpList,
  ) {}

  check(ctx: RequestContext): Verdict {
    if (this.bans.size === 0) return CONTINUE;
    const now = Date.now();
    const ban = this.bans.find(ctx.ip, now);
    if (ban === undefined || this.allowlist.has(ctx.ip)) return CONTINUE;

    const retryAfter = Math.max(1, Math.ceil((ban.expiresAt - now) / 1000));
    const suppressed = this.sampler.sample(`${ban.subject}@${ban.createdAt}`);
    return {
      action: 'reject',
      status: 403,
      headers: { 'retry-after': String(retryAfter) },
      problem: problem('ip-banned', 403, 'Forbidden', 'BWK_ERR_IP_BANNED', {
        detail: `Requests from this address are refused for ${retryAfter} s after repeated violations.`,
        retryAfter,
      }),
      event: {
        type: 'ban.rejected',
        category: 'violation',
        severity: 'low',
        details: {
          subject: ban.subject,
          reason: ban.reason,
          expiresAt: new Date(ban.expiresAt).toISOString(),
          suppressed: suppressed ?? 0,
        },
      },
      unreported: suppressed === undefined,
    };
  }
}
