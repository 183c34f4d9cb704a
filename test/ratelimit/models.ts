/**
 * Reference models for the rate-limit algorithms: each one is the plain definition the
 * algorithm implements or approximates, written in integer arithmetic so that it is exact at
 * every boundary. Tests drive a model and an algorithm with the same requests and compare.
 */

export interface ModelVerdict {
  allowed: boolean;
  remaining: number;
}

/** Keeps every admitted request and counts the cost admitted in (now - window, now]. */
export class LogModel {
  private readonly admitted: { time: number; cost: number }[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  used(now: number): number {
    let used = 0;
    for (const request of this.admitted) {
      if (request.time > now - this.windowMs) used += request.cost;
    }
    return used;
  }

  request(now: number, cost: number): ModelVerdict {
    const used = this.used(now);
    if (used + cost > this.limit) return { allowed: false, remaining: this.limit - used };
    this.admitted.push({ time: now, cost });
    return { allowed: true, remaining: this.limit - used - cost };
  }
}

/**
 * A continuous token bucket: `burst` tokens when full, one token back every emission
 * interval. The interval is the window divided by the limit, rounded up to 1/2048 ms as the
 * GCRA implementation documents, and the level is kept in units of 1/2048 ms of credit so
 * that every step is integer arithmetic.
 */
export class TokenBucketModel {
  static readonly UNITS_PER_MS = 2048;
  readonly intervalUnits: number;
  private level: number;
  private updatedAt: number;

  constructor(
    limit: number,
    windowMs: number,
    private readonly burst: number,
    start: number,
  ) {
    this.intervalUnits = Math.ceil((windowMs * TokenBucketModel.UNITS_PER_MS) / limit);
    this.level = burst * this.intervalUnits;
    this.updatedAt = start;
  }

  request(now: number, cost: number): ModelVerdict {
    this.level = Math.min(
      this.burst * this.intervalUnits,
      this.level + (now - this.updatedAt) * TokenBucketModel.UNITS_PER_MS,
    );
    this.updatedAt = now;

    const needed = cost * this.intervalUnits;
    const allowed = this.level >= needed;
    if (allowed) this.level -= needed;
    return { allowed, remaining: Math.floor(this.level / this.intervalUnits) };
  }
}

/**
 * The weighted two-window estimate: the previous fixed window's count, weighted by the share
 * of it still inside the sliding window, plus the current fixed window's count. Compared
 * after multiplying both sides by the window, so the weight needs no division.
 */
export class WeightedCounterModel {
  /** Admitted cost per fixed window, by window index (time divided by the window). */
  readonly counts = new Map<number, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  request(now: number, cost: number): ModelVerdict {
    const index = Math.floor(now / this.windowMs);
    const elapsed = now - index * this.windowMs;
    const previous = this.counts.get(index - 1) ?? 0;
    const current = this.counts.get(index) ?? 0;

    const scaledEstimate = previous * (this.windowMs - elapsed) + current * this.windowMs;
    const scaledRoom = this.limit * this.windowMs - scaledEstimate;
    if (cost * this.windowMs > scaledRoom) {
      return { allowed: false, remaining: Math.max(0, Math.floor(scaledRoom / this.windowMs)) };
    }
    this.counts.set(index, current + cost);
    return { allowed: true, remaining: Math.floor(scaledRoom / this.windowMs) - cost };
  }
}
