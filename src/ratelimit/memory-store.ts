import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import {
  commitCounter,
  commitGcra,
  commitLog,
  counterExpiresAt,
  createCounter,
  createGcra,
  createLog,
  evaluateCounter,
  evaluateGcra,
  evaluateLog,
  gcraExpiresAt,
  logExpiresAt,
  type AlgorithmState,
  type CounterState,
  type Evaluation,
  type GcraState,
  type LogState,
} from './algorithms.js';
import type {
  Algorithm,
  LimitCheck,
  LimitDecision,
  LimitPolicy,
  RateLimitStore,
} from './policy.js';

interface Entry {
  state: AlgorithmState;
  algorithm: Algorithm;
  blockedUntil: number;
  expiresAt: number;
}

export interface MemoryStoreOptions {
  clock?: Clock;
  /** Keys kept before the oldest are evicted. Eviction discards their counts. */
  maxKeys?: number;
  /** How often expired keys are swept, in milliseconds. */
  sweepIntervalMs?: number;
}

/**
 * A cost that no quota admits. Evaluating it takes each algorithm's rejected branch, which
 * reports remaining and reset from the key's state alone, without the current request.
 */
const UNADMITTABLE_COST = Number.POSITIVE_INFINITY;

/**
 * Rate-limit state in this process. Expiry is computed from the timestamps stored with each
 * key and collected by one periodic sweep, so there are no per-key timers and windows of
 * any length (30 days included) cost nothing extra.
 *
 * A check allocates only its decision (and, for a new key, the key's state): the algorithm
 * writes its outcome straight into the decision, and `consumeOne` skips the arrays of
 * `consume` for callers with a single limit.
 */
export class MemoryStore implements RateLimitStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly maxKeys: number;
  private readonly sweepTimer: NodeJS.Timeout;
  // Per-check scratch of `consumeAll`, reused from call to call: each check's entry, and the
  // remaining and reset of each admitting limit without the request's cost.
  private readonly requestEntries: Entry[] = [];
  private readonly remainingWithoutCost: number[] = [];
  private readonly resetMsWithoutCost: number[] = [];
  private readonly withoutCost: Evaluation = {
    allowed: false,
    remaining: 0,
    resetMs: 0,
    retryAfterMs: 0,
  };

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
    if (checks.length === 1) {
      const { policy, key, cost, limit } = checks[0]!;
      return [this.consumeSingle(now, policy, key, cost, limit ?? policy.limit)];
    }
    return this.consumeAll(now, checks);
  }

  /**
   * Checks a single limit: the same as `consume([{ policy, key, cost, limit }])[0]`, without
   * building arrays, for callers such as `RateLimiter` that have one limit per request.
   */
  consumeOne(policy: LimitPolicy, key: string, cost: number, limit = policy.limit): LimitDecision {
    return this.consumeSingle(this.clock.now(), policy, key, cost, limit);
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

  /** One limit needs no second pass: its own verdict decides whether it consumes. */
  private consumeSingle(
    now: number,
    policy: LimitPolicy,
    key: string,
    cost: number,
    limit: number,
  ): LimitDecision {
    const entry = this.entryFor(key, policy, now);
    const decision = newDecision(policy.name, limit);
    const wasBlocked = entry.blockedUntil > now;

    if (wasBlocked) {
      reportBlocked(decision, entry, now);
    } else if (evaluate(decision, entry, now, cost, limit, policy)) {
      commit(entry, now, cost, limit, policy);
    } else if (policy.blockForMs) {
      block(decision, entry, now, policy.blockForMs);
    }
    decision.blocked = wasBlocked;
    entry.expiresAt = Math.max(expiresAt(entry, policy), entry.blockedUntil);

    if (this.entries.size > this.maxKeys) this.evict([entry]);
    return decision;
  }

  private consumeAll(now: number, checks: readonly LimitCheck[]): LimitDecision[] {
    const entries = this.requestEntries;
    // Emptied here as well as at the end, so that a call that threw cannot shift the indexes.
    entries.length = 0;
    const decisions: LimitDecision[] = [];
    let allAllowed = true;

    // First pass: evaluate every limit without consuming anything.
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i]!;
      const policy = check.policy;
      const limit = check.limit ?? policy.limit;
      const entry = this.entryFor(check.key, policy, now);
      const decision = newDecision(policy.name, limit);
      if (entry.blockedUntil > now) reportBlocked(decision, entry, now);
      else if (evaluate(decision, entry, now, check.cost, limit, policy))
        this.recordWithoutCost(i, entry, now, limit, policy);
      if (!decision.allowed) allAllowed = false;
      entries.push(entry);
      decisions.push(decision);
    }

    // Second pass: consume everywhere, or block the keys that rejected.
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i]!;
      const policy = check.policy;
      const entry = entries[i]!;
      const decision = decisions[i]!;
      const wasBlocked = entry.blockedUntil > now;
      if (allAllowed) {
        commit(entry, now, check.cost, decision.limit, policy);
      } else if (decision.allowed) {
        // Another limit rejected the request, so this one consumed nothing and reports its
        // quota without the request's cost.
        decision.remaining = this.remainingWithoutCost[i]!;
        decision.resetMs = this.resetMsWithoutCost[i]!;
      } else if (!wasBlocked && policy.blockForMs) {
        block(decision, entry, now, policy.blockForMs);
      }
      decision.blocked = wasBlocked;
      entry.expiresAt = Math.max(expiresAt(entry, policy), entry.blockedUntil);
    }

    // Evict only now: a sweep during the first pass would delete the request's new keys
    // (their expiry is not set yet), and their commits would go to orphaned state.
    if (this.entries.size > this.maxKeys) this.evict(entries);
    entries.length = 0;
    return decisions;
  }

  /**
   * Records the remaining and reset of an admitting limit without the request's cost. This
   * runs in the first pass, right after the evaluation, because a later check of the request
   * on the same key with another window may roll or trim the state before the second pass.
   */
  private recordWithoutCost(
    index: number,
    entry: Entry,
    now: number,
    limit: number,
    policy: LimitPolicy,
  ): void {
    const withoutCost = this.withoutCost;
    evaluate(withoutCost, entry, now, UNADMITTABLE_COST, limit, policy);
    this.remainingWithoutCost[index] = withoutCost.remaining;
    this.resetMsWithoutCost[index] = withoutCost.resetMs;
  }

  private entryFor(key: string, policy: LimitPolicy, now: number): Entry {
    let entry = this.entries.get(key);
    // A key whose policy changed algorithm (configuration reload) starts afresh.
    if (
      entry !== undefined &&
      entry.algorithm === policy.algorithm &&
      (entry.expiresAt > now || entry.expiresAt === 0)
    ) {
      return entry;
    }
    entry = {
      state: createState(policy.algorithm, now, policy.windowMs),
      algorithm: policy.algorithm,
      blockedUntil: 0,
      expiresAt: 0,
    };
    this.entries.set(key, entry);
    return entry;
  }

  /** Removes expired keys, then the oldest live keys other than those of the current request. */
  private evict(current: readonly Entry[]): void {
    if (this.sweep() > 0 && this.entries.size <= this.maxKeys) return;
    // NOTE: evicting a live key discards its count, so a flood of distinct keys past maxKeys
    // lets evicted clients start over. Size maxKeys above the expected number of clients.
    // At the cap every new key also costs a sweep over all keys.
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxKeys) return;
      if (!current.includes(entry)) this.entries.delete(key);
    }
  }
}

/** Creates every decision from this one literal, so that all of them share one V8 hidden class. */
function newDecision(policy: string, limit: number): LimitDecision {
  return {
    policy,
    allowed: false,
    limit,
    remaining: 0,
    resetMs: 0,
    retryAfterMs: 0,
    blocked: false,
  };
}

function reportBlocked(decision: LimitDecision, entry: Entry, now: number): void {
  decision.allowed = false;
  decision.remaining = 0;
  decision.resetMs = entry.blockedUntil - now;
  decision.retryAfterMs = entry.blockedUntil - now;
}

function block(decision: LimitDecision, entry: Entry, now: number, blockForMs: number): void {
  entry.blockedUntil = now + blockForMs;
  decision.retryAfterMs = Math.max(decision.retryAfterMs, blockForMs);
}

// One switch per step, so that each call below receives a single state shape and V8 can
// inline it. A call through one object per algorithm turns polymorphic, and is no longer
// inlined, once a process uses several algorithms.

function createState(algorithm: Algorithm, now: number, windowMs: number): AlgorithmState {
  switch (algorithm) {
    case 'sliding-window-log':
      return createLog();
    case 'sliding-window-counter':
      return createCounter(now, windowMs);
    case 'gcra':
      return createGcra(now);
  }
}

/** Writes the outcome of `cost` into `out` without consuming; returns whether it is admitted. */
function evaluate(
  out: Evaluation,
  entry: Entry,
  now: number,
  cost: number,
  limit: number,
  policy: LimitPolicy,
): boolean {
  switch (entry.algorithm) {
    case 'sliding-window-log':
      return evaluateLog(out, entry.state as LogState, now, cost, limit, policy.windowMs);
    case 'sliding-window-counter':
      return evaluateCounter(out, entry.state as CounterState, now, cost, limit, policy.windowMs);
    case 'gcra': {
      const burst = policy.burst ?? limit;
      return evaluateGcra(out, entry.state as GcraState, now, cost, limit, policy.windowMs, burst);
    }
  }
}

function commit(entry: Entry, now: number, cost: number, limit: number, policy: LimitPolicy): void {
  switch (entry.algorithm) {
    case 'sliding-window-log':
      return commitLog(entry.state as LogState, now, cost);
    case 'sliding-window-counter':
      return commitCounter(entry.state as CounterState, cost);
    case 'gcra':
      return commitGcra(entry.state as GcraState, now, cost, limit, policy.windowMs);
  }
}

function expiresAt(entry: Entry, policy: LimitPolicy): number {
  switch (entry.algorithm) {
    case 'sliding-window-log':
      return logExpiresAt(entry.state as LogState, policy.windowMs);
    case 'sliding-window-counter':
      return counterExpiresAt(entry.state as CounterState, policy.windowMs);
    case 'gcra':
      return gcraExpiresAt(entry.state as GcraState);
  }
}
