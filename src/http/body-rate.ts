/**
 * The minimum transfer rate of a request body. Node has only absolute timeouts
 * (`requestTimeout`), so a client that trickles a byte every few seconds keeps a connection
 * and a buffer busy for minutes. This monitor ends such a body once it falls below a rate.
 */
import type { BodyRate } from '../core/context.js';

const TICK_MS = 1000;

/** The byte count a monitor samples, and whether the consumer is behind. */
export interface RateSource {
  /** Body bytes received so far. */
  bytes(): number;
  /**
   * Whether the reader, not the client, is behind: its buffer is full or it has not started
   * reading. Such seconds are not counted, so backpressure from a slow upstream or
   * application is never blamed on the client.
   */
  consumerStalled(): boolean;
}

/**
 * Samples a body once a second and calls `onTooSlow` once when the bytes of the last
 * `windowMs` (or of the time since the grace period began, if shorter) average less than
 * `bytesPerSecond`. The rate applies after `graceMs`.
 */
export class BodyRateMonitor {
  /** Bytes received in each counted second, newest last, at most one window long. */
  private readonly seconds: number[] = [];
  private readonly windowSeconds: number;
  private readonly graceSeconds: number;
  private countedSeconds = 0;
  private lastBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly rate: BodyRate,
    private readonly source: RateSource,
    private readonly onTooSlow: () => void,
  ) {
    this.windowSeconds = Math.max(1, Math.ceil(rate.windowMs / TICK_MS));
    this.graceSeconds = Math.ceil(rate.graceMs / TICK_MS);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    // A monitor never keeps the process alive on its own.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    // Bytes that arrive while the consumer stalls count toward the next counted second.
    if (this.source.consumerStalled()) return;
    const bytes = this.source.bytes();
    this.seconds.push(bytes - this.lastBytes);
    this.lastBytes = bytes;
    if (this.seconds.length > this.windowSeconds) this.seconds.shift();
    this.countedSeconds += 1;
    if (this.countedSeconds <= this.graceSeconds) return;

    let received = 0;
    for (const count of this.seconds) received += count;
    if (received < this.rate.bytesPerSecond * this.seconds.length) {
      this.stop();
      this.onTooSlow();
    }
  }
}
