/**
 * Per-client tallies reported once per interval. Under a flood, one event per rejected
 * connection would turn the attack into a flood of events, so rejections are counted here and
 * each client gets at most one event per interval.
 */

/** What one client did during an interval. */
export interface ClientTally {
  /** The client as counted: an IPv4 address or an IPv6 network such as `2001:db8::/64`. */
  key: string;
  /** The last peer address seen for the client. */
  address: string;
  /** Counts by reason, e.g. `{ concurrent: 12, rate: 3 }`. */
  counts: Record<string, number>;
  total: number;
}

/** Clients reported per interval at most; the rest are only counted, with their total. */
export const MAX_CLIENTS_PER_REPORT = 100;

/** Clients tracked per interval at most, so that a spoofed-source flood cannot grow the map. */
const MAX_TRACKED_CLIENTS = 10_000;

export interface IntervalReport {
  /** The clients with the most events, at most `MAX_CLIENTS_PER_REPORT`. */
  clients: ClientTally[];
  /** Clients counted but left out of `clients`. */
  omittedClients: number;
  /** Events of clients that are not in `clients`. */
  omittedEvents: number;
}

export class ClientTallies {
  private tallies = new Map<string, ClientTally>();
  private overflowEvents = 0;

  /** Counts one event of `reason` for a client. */
  count(key: string, address: string, reason: string): void {
    let tally = this.tallies.get(key);
    if (tally === undefined) {
      if (this.tallies.size >= MAX_TRACKED_CLIENTS) {
        this.overflowEvents += 1;
        return;
      }
      tally = { key, address, counts: {}, total: 0 };
      this.tallies.set(key, tally);
    }
    tally.address = address;
    tally.counts[reason] = (tally.counts[reason] ?? 0) + 1;
    tally.total += 1;
  }

  get isEmpty(): boolean {
    return this.tallies.size === 0 && this.overflowEvents === 0;
  }

  /** Returns the interval's tallies, busiest clients first, and starts a new interval. */
  take(): IntervalReport {
    const all = [...this.tallies.values()].sort((a, b) => b.total - a.total);
    const clients = all.slice(0, MAX_CLIENTS_PER_REPORT);
    const omitted = all.slice(MAX_CLIENTS_PER_REPORT);
    const report = {
      clients,
      omittedClients: omitted.length,
      omittedEvents: omitted.reduce((sum, tally) => sum + tally.total, 0) + this.overflowEvents,
    };
    this.tallies = new Map();
    this.overflowEvents = 0;
    return report;
  }
}
