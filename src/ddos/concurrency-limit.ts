/**
 * An adaptive concurrency limit in the gradient style. The limit shrinks when the latency of
 * admitted requests rises above the latency seen without load, because requests are then
 * queueing somewhere behind the gateway. It also shrinks when the event loop falls behind,
 * because the process itself is saturated. While neither happens, it grows by a small headroom.
 */

export interface ConcurrencyLimitSettings {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** Latency may grow to this multiple of the unloaded latency before the limit shrinks. */
  latencyTolerance: number;
  /** The limit shrinks while the event loop's p99 delay is longer than this, in ms. */
  maxEventLoopDelay: number;
}

/** Observations of one sampling window. */
export interface LimitWindow {
  /** Mean latency of the requests completed in the window, in ms; undefined when too few completed. */
  meanLatencyMs: number | undefined;
  /** Maximum number of requests in flight at once during the window. */
  peakInFlight: number;
  /** The event loop's p99 delay during the window, in ms, beyond the sampling resolution. */
  eventLoopDelayMs: number;
}

/** Latencies below this are treated as this, because sub-millisecond changes are scheduling noise. */
const LATENCY_FLOOR_MS = 1;
/** How much of the newly computed limit each window applies, to damp oscillation. */
const SMOOTHING = 0.2;
/** The factor applied to the limit for each window in which the event loop fell behind. */
const EVENT_LOOP_BACKOFF = 0.9;
/** Rate at which the baseline follows a rising latency while the limit is not the bottleneck. */
const BASELINE_FOLLOW = 0.1;
/** Windows at the minimum limit with latency still too high, after which the baseline is reset. */
const WINDOWS_BEFORE_RESET = 50;

export class GradientLimit {
  private value: number;
  private baseline: number | undefined;
  private windowsStuckAtMin = 0;

  constructor(private readonly settings: ConcurrencyLimitSettings) {
    this.value = settings.initialLimit;
  }

  /** The number of requests that may be in flight. */
  get limit(): number {
    return Math.floor(this.value);
  }

  /** The latency taken as unloaded, in ms; undefined before the first window with samples. */
  get baselineLatencyMs(): number | undefined {
    return this.baseline;
  }

  /** Adjusts the limit to one window's observations and returns the new limit. */
  update(window: LimitWindow): number {
    if (window.eventLoopDelayMs > this.settings.maxEventLoopDelay) {
      this.value = this.clamp(this.value * EVENT_LOOP_BACKOFF);
      return this.limit;
    }
    if (window.meanLatencyMs === undefined) return this.limit;

    const latency = Math.max(window.meanLatencyMs, LATENCY_FLOOR_MS);
    // With fewer than half the slots in use, this process adds no queueing, so the latency
    // measured is the unloaded latency and tells nothing about the limit.
    const appLimited = window.peakInFlight < this.value / 2;
    const baseline = this.updateBaseline(latency, appLimited);

    const gradient = Math.min(
      1,
      Math.max(0.5, (this.settings.latencyTolerance * baseline) / latency),
    );
    const target = this.value * gradient + Math.sqrt(this.value);
    if (appLimited && target >= this.value) return this.limit;

    this.value = this.clamp(this.value * (1 - SMOOTHING) + target * SMOOTHING);
    this.noteStuckAtMin(gradient, latency);
    return this.limit;
  }

  /**
   * Updates and returns the baseline: the lowest latency seen under load. While the limit is
   * not the bottleneck, the baseline also follows a rising latency, so that an upstream that
   * became slower for good does not keep the limit low. Under load it does not follow, because
   * a rising latency is exactly what the limit reacts to.
   */
  private updateBaseline(latency: number, appLimited: boolean): number {
    let baseline = this.baseline ?? latency;
    if (latency < baseline) baseline = latency;
    else if (appLimited) baseline += (latency - baseline) * BASELINE_FOLLOW;
    this.baseline = baseline;
    return baseline;
  }

  /**
   * Resets the baseline when even the minimum limit cannot bring latency within tolerance for
   * a while: then latency does not come from our load, and the old baseline would keep the
   * limit at its minimum forever.
   */
  private noteStuckAtMin(gradient: number, latency: number): void {
    const stuck = gradient < 1 && this.limit <= this.settings.minLimit;
    this.windowsStuckAtMin = stuck ? this.windowsStuckAtMin + 1 : 0;
    if (this.windowsStuckAtMin >= WINDOWS_BEFORE_RESET) {
      this.baseline = latency;
      this.windowsStuckAtMin = 0;
    }
  }

  private clamp(value: number): number {
    return Math.min(this.settings.maxLimit, Math.max(this.settings.minLimit, value));
  }
}
