/**
 * Per-IP connection throttling: how many connections one client may hold open, and how many
 * it may open per second. It decides on the TCP peer address alone, when the connection is
 * accepted and before a byte of HTTP is parsed, so a flood of connections costs one map
 * lookup each.
 */
import { CidrList, ipKey, parseIp } from '../core/ip.js';

export type ConnectionRejectReason = 'concurrent' | 'rate';

export interface ConnectionThrottleSettings {
  /** Open connections per client; 0 turns the limit off. */
  maxConcurrent: number;
  /** New connections per second per client, with bursts of as many; 0 turns it off. */
  maxNewPerSecond: number;
  /** IPv6 clients are counted per network of this prefix length. */
  ipv6Prefix: number;
  /** Addresses never throttled, such as a local proxy or the load balancer. */
  allow: readonly string[];
}

/** A client as the throttle counts it: an IPv4 address or an IPv6 network such as `2001:db8::/64`. */
export interface ClientIdentity {
  key: string;
  /** Never throttled: on the allowlist, or not an IP address at all (a Unix socket). */
  exempt: boolean;
}

export type ConnectionVerdict =
  | { admitted: true; client: ClientIdentity }
  | { admitted: false; client: ClientIdentity; reason: ConnectionRejectReason };

interface ClientState {
  open: number;
  /** Token bucket for new connections: tokens left and when they were last refilled (ms). */
  tokens: number;
  refilledAt: number;
}

// Peer addresses repeat across a client's connections, and parsing one dominates the cost.
const MAX_CACHED_IDENTITIES = 4096;

/**
 * Counts connections per client. State lives in memory, per process: each gateway instance
 * throttles the connections it accepts.
 */
export class ConnectionThrottle {
  private readonly clients = new Map<string, ClientState>();
  private readonly identities = new Map<string, ClientIdentity>();
  private readonly allow: CidrList;

  constructor(
    private readonly settings: ConnectionThrottleSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.allow = new CidrList(settings.allow);
  }

  /** The number of clients with state, for tests and metrics. */
  get trackedClients(): number {
    return this.clients.size;
  }

  /** Identifies the client behind a peer address. */
  identify(remoteAddress: string | undefined): ClientIdentity {
    const text = remoteAddress ?? '';
    let identity = this.identities.get(text);
    if (identity === undefined) {
      if (this.identities.size >= MAX_CACHED_IDENTITIES) this.identities.clear();
      const address = parseIp(text);
      identity =
        address === undefined
          ? { key: text || 'unknown', exempt: true }
          : {
              key: ipKey(address.toString(), this.settings.ipv6Prefix),
              exempt: this.allow.contains(address),
            };
      this.identities.set(text, identity);
    }
    return identity;
  }

  /**
   * Decides on a new connection. An admitted connection of a throttled client counts as open
   * until `release` is called with its client.
   */
  admit(remoteAddress: string | undefined): ConnectionVerdict {
    const client = this.identify(remoteAddress);
    if (client.exempt) return { admitted: true, client };

    const { maxConcurrent, maxNewPerSecond } = this.settings;
    const now = this.now();
    let state = this.clients.get(client.key);
    if (state === undefined) {
      state = { open: 0, tokens: maxNewPerSecond, refilledAt: now };
      this.clients.set(client.key, state);
    }

    if (maxConcurrent > 0 && state.open >= maxConcurrent) {
      return { admitted: false, client, reason: 'concurrent' };
    }
    if (maxNewPerSecond > 0) {
      this.refill(state, now);
      if (state.tokens < 1) return { admitted: false, client, reason: 'rate' };
      state.tokens -= 1;
    }
    state.open += 1;
    return { admitted: true, client };
  }

  /** Counts an admitted connection as closed. */
  release(client: ClientIdentity): void {
    if (client.exempt) return;
    const state = this.clients.get(client.key);
    if (state !== undefined && state.open > 0) state.open -= 1;
  }

  /**
   * Forgets clients with no open connection whose bucket has refilled, which is all the
   * state a new connection of theirs would start with anyway. The caller runs it periodically
   * so that the map holds only recent clients.
   */
  sweep(): void {
    const now = this.now();
    for (const [key, state] of this.clients) {
      if (state.open > 0) continue;
      this.refill(state, now);
      if (state.tokens >= this.settings.maxNewPerSecond) this.clients.delete(key);
    }
  }

  private refill(state: ClientState, now: number): void {
    const rate = this.settings.maxNewPerSecond;
    const elapsedSeconds = (now - state.refilledAt) / 1000;
    state.tokens = Math.min(rate, state.tokens + elapsedSeconds * rate);
    state.refilledAt = now;
  }
}
