/** How often a rejection of one address by a network guard is reported as an event. */
export const REJECTION_EVENT_INTERVAL_MS = 10_000;

const MAX_TRACKED_KEYS = 10_000;

interface KeyState {
  reportedAt: number;
  suppressed: number;
}

/**
 * Thins out the events of repeated rejections. The first rejection of a key is reported, and
 * then at most one per interval, carrying the number of rejections left unreported since the
 * previous event, so totals stay recoverable from the events alone.
 */
export class EventSampler {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly intervalMs = REJECTION_EVENT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Returns the number of rejections suppressed since the last report when this one is to be
   * reported, or undefined when it is not.
   */
  sample(key: string): number | undefined {
    const now = this.now();
    const state = this.keys.get(key);
    if (state === undefined) {
      // A flood from many addresses could grow the map without bound, so it starts over when
      // full. The cost is one extra event per address.
      if (this.keys.size >= MAX_TRACKED_KEYS) this.keys.clear();
      this.keys.set(key, { reportedAt: now, suppressed: 0 });
      return 0;
    }
    if (now - state.reportedAt < this.intervalMs) {
      state.suppressed += 1;
      return undefined;
    }
    const suppressed = state.suppressed;
    state.reportedAt = now;
    state.suppressed = 0;
    return suppressed;
  }

  /** Forgets a key, e.g. when its ban is lifted, so that a new ban is reported at once. */
  forget(key: string): void {
    this.keys.delete(key);
  }
}
