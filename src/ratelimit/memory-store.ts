import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { algorithmImpl, type AlgorithmState, type Evaluation, type Params } from './algorithms.js';
import type { LimitCheck, LimitDecision, RateLimitStore } from './policy.js';

interface Entry {
  state: AlgorithmState;
  algorithm: string;
  blockedUntil: number;
  expiresAt: number;
}

export interface MemoryStoreOptions {
  clock?: Clock;
  /** Keys kept before the oldest are evicted; eviction forgets their counts. */
  maxKeys?: number;
  /** How often expired keys are swept, in milliseconds. */
  sweepIntervalMs?: number;
}

/**
 * Rate-limit state in this process. Expiry is computed from the timestamps stored with each
 * key and collected by one periodic sweep, so there are no per-key timers and windows of
 * any length (30 days included) cost nothing extra.
 */
export class MemoryStore implements RateLimitStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly maxKeys: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly evaluations: Evaluation[] = [];

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxKeys = options.maxKeys ?? 1_000_000;
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  consume(checks: readonly LimitCheck[]): LimitDecision[] {
    const now = this.clock.now();
    const entries: Entry[] = [];
    const evaluations = this.evaluations;
    evaluations.length = 0;
    let allAllowed = true;

    // First pass: evaluate every limit without consuming anything.
    for (const check of checks) {
      const params = paramsOf(check);
      const entry = this.entryFor(check, now, params);
      entries.push(entry);
      const evaluation =
        entry.blockedUntil > now
          ? {
              allowed: false,
              remaining: 0,
              resetMs: entry.blockedUntil - now,
              retryAfterMs: entry.blockedUntil - now,
            }
          : algorithmImpl(check.policy.algorithm).evaluate(entry.state, now, check.cost, params);
      evaluations.push(evaluation);
      if (!evaluation.allowed) allAllowed = false;
    }

    // Second pass: consume everywhere, or block the keys that rejected.
    const decisions: LimitDecision[] = [];
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i]!;
      const entry = entries[i]!;
      const evaluation = evaluations[i]!;
      const params = paramsOf(check);
      const impl = algorithmImpl(check.policy.algorithm);
      const wasBlocked = entry.blockedUntil > now;
      if (allAllowed) {
        impl.commit(entry.state, now, check.cost, params);
      } else if (!evaluation.allowed && !wasBlocked && check.policy.blockForMs) {
        entry.blockedUntil = now + check.policy.blockForMs;
        evaluation.retryAfterMs = Math.max(evaluation.retryAfterMs, check.policy.blockForMs);
      }
      entry.expiresAt = Math.max(impl.expiresAt(entry.state, params), entry.blockedUntil);
      decisions.push({
        policy: check.policy.name,
        allowed: evaluation.allowed,
        limit: params.limit,
        remaining: evaluation.remaining,
        resetMs: evaluation.resetMs,
        retryAfterMs: evaluation.retryAfterMs,
        blocked: wasBlocked,
      });
    }

    // Evict only now: a sweep during the first pass would delete the request's new keys
    // (their expiry is not set yet), and their commits would go to orphaned state.
    if (this.entries.size > this.maxKeys) this.evict(entries);
    return decisions;
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.entries.clear();
  }

  /** Deletes keys whose state has expired; returns how many were removed. */
  sweep(): number {
    const now = this.clock.now();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  private entryFor(check: LimitCheck, now: number, params: Params): Entry {
    let entry = this.entries.get(check.key);
    // A key whose policy changed algorithm (configuration reload) starts afresh.
    if (
      entry &&
      entry.algorithm === check.policy.algorithm &&
      (entry.expiresAt > now || entry.expiresAt === 0)
    ) {
      return entry;
    }
    const impl = algorithmImpl(check.policy.algorithm);
    entry = {
      state: impl.create(now, params),
      algorithm: check.policy.algorithm,
      blockedUntil: 0,
      expiresAt: 0,
    };
    this.entries.set(check.key, entry);
    return entry;
  }

  /** Removes expired keys, then the oldest live keys other than those of the current request. */
  private evict(current: readonly Entry[]): void {
    if (this.sweep() > 0 && this.entries.size <= this.maxKeys) return;
    // NOTE: evicting a live key forgets its count, so a flood of distinct keys past maxKeys
    // lets evicted clients start over. Size maxKeys above the expected number of clients.
    // At the cap every new key also costs a sweep over all keys.
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxKeys) return;
      if (!current.includes(entry)) this.entries.delete(key);
    }
  }
}

function paramsOf(check: LimitCheck): Params {
  const limit = check.limit ?? check.policy.limit;
  return { limit, windowMs: check.policy.windowMs, burst: check.policy.burst ?? limit };
}
