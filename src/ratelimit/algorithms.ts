/**
 * The algorithms as functions over plain state, shared by the memory store. The Redis Lua
 * script implements the same arithmetic; the store contract tests hold them to one model.
 *
 * `evaluate` never changes the meaning of the state (it may drop expired log entries), and
 * `commit` records an admitted request. Splitting the two lets a store check every limit of
 * a request before it consumes quota in any of them.
 *
 * Each algorithm is a set of plain functions that take the parameters as numbers and write
 * the outcome into a caller's object, so the memory store's hot path allocates nothing here
 * and V8 can inline each call. The `AlgorithmImpl` objects wrap the same functions for code
 * that wants one interface over all three.
 */

export interface Evaluation {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export interface Params {
  limit: number;
  windowMs: number;
  burst: number;
}

/** Sliding window log: one entry per admitted request, as a flat [time, cost, ...] array. */
export interface LogState {
  entries: number[];
  /**
   * Total cost of the entries, kept so that a check need not sum the log. Costs are whole
   * numbers, so the running total is exact.
   */
  used: number;
}

/** Sliding window counter: counts for the current and previous fixed windows. */
export interface CounterState {
  windowStart: number;
  current: number;
  previous: number;
}

/** GCRA: the theoretical arrival time of the next request. */
export interface GcraState {
  tat: number;
}

export type AlgorithmState = LogState | CounterState | GcraState;

export interface AlgorithmImpl<S extends AlgorithmState> {
  create(now: number, params: Params): S;
  evaluate(state: S, now: number, cost: number, params: Params): Evaluation;
  commit(state: S, now: number, cost: number, params: Params): void;
  /** Time after which the state carries no information and can be deleted. */
  expiresAt(state: S, params: Params): number;
}

const NEVER = Number.POSITIVE_INFINITY;

function newEvaluation(): Evaluation {
  return { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };
}

/** Writes one outcome into `out`; returns `allowed`. */
function report(
  out: Evaluation,
  allowed: boolean,
  remaining: number,
  resetMs: number,
  retryAfterMs: number,
): boolean {
  out.allowed = allowed;
  out.remaining = remaining;
  out.resetMs = resetMs;
  out.retryAfterMs = retryAfterMs;
  return allowed;
}

// Sliding window log ---------------------------------------------------------------------

export function createLog(): LogState {
  return { entries: [], used: 0 };
}

/** Writes the outcome of a request of `cost` into `out` without consuming; returns `allowed`. */
export function evaluateLog(
  out: Evaluation,
  state: LogState,
  now: number,
  cost: number,
  limit: number,
  windowMs: number,
): boolean {
  const entries = state.entries;
  let firstLive = 0;
  while (firstLive < entries.length && entries[firstLive]! <= now - windowMs) {
    state.used -= entries[firstLive + 1]!;
    firstLive += 2;
  }
  if (firstLive > 0) {
    entries.splice(0, firstLive);
    // Reset an empty log's total to exactly 0, as the Redis script does.
    if (entries.length === 0) state.used = 0;
  }
  const used = state.used;

  if (used + cost <= limit) {
    // The admitted request becomes the newest entry, so the quota is full one window later.
    return report(out, true, limit - used - cost, windowMs, 0);
  }

  // Walk the log from the oldest entry until enough cost has left the window to fit.
  let retryAfterMs = cost > limit ? NEVER : windowMs;
  let freed = 0;
  for (let i = 0; i < entries.length && cost <= limit; i += 2) {
    freed += entries[i + 1]!;
    if (used - freed + cost <= limit) {
      retryAfterMs = entries[i]! + windowMs - now;
      break;
    }
  }
  const resetMs = entries.length > 0 ? entries[entries.length - 2]! + windowMs - now : 0;
  return report(out, false, Math.max(0, limit - used), resetMs, retryAfterMs);
}

export function commitLog(state: LogState, now: number, cost: number): void {
  state.entries.push(now, cost);
  state.used += cost;
}

export function logExpiresAt(state: LogState, windowMs: number): number {
  const entries = state.entries;
  return entries.length > 0 ? entries[entries.length - 2]! + windowMs : 0;
}

// Sliding window counter -----------------------------------------------------------------

export function createCounter(now: number, windowMs: number): CounterState {
  return { windowStart: now - (now % windowMs), current: 0, previous: 0 };
}

/** Writes the outcome of a request of `cost` into `out` without consuming; returns `allowed`. */
export function evaluateCounter(
  out: Evaluation,
  state: CounterState,
  now: number,
  cost: number,
  limit: number,
  windowMs: number,
): boolean {
  rollCounter(state, now, windowMs);
  const elapsed = now - state.windowStart;
  const weight = (windowMs - elapsed) / windowMs;
  const estimate = state.previous * weight + state.current;

  if (estimate + cost <= limit) {
    const resetMs = counterResetMs(state, state.current + cost, now, windowMs);
    return report(out, true, Math.floor(limit - estimate - cost), resetMs, 0);
  }
  return report(
    out,
    false,
    Math.max(0, Math.floor(limit - estimate)),
    counterResetMs(state, state.current, now, windowMs),
    counterRetryAfter(state, now, cost, limit, windowMs),
  );
}

export function commitCounter(state: CounterState, cost: number): void {
  state.current += cost;
}

export function counterExpiresAt(state: CounterState, windowMs: number): number {
  return state.windowStart + 2 * windowMs;
}

/** Moves the counter forward to the fixed window that contains `now`. */
function rollCounter(state: CounterState, now: number, windowMs: number): void {
  const windowStart = now - (now % windowMs);
  if (windowStart === state.windowStart) return;
  state.previous = windowStart - state.windowStart === windowMs ? state.current : 0;
  state.current = 0;
  state.windowStart = windowStart;
}

/** Time until both counts have faded out: the current count fades through the next window. */
function counterResetMs(
  state: CounterState,
  current: number,
  now: number,
  windowMs: number,
): number {
  if (current > 0) return state.windowStart + 2 * windowMs - now;
  if (state.previous > 0) return state.windowStart + windowMs - now;
  return 0;
}

/**
 * Solves for the first time the weighted estimate leaves room for `cost`: later in this
 * window while the previous count fades, or in the next window, where the current count
 * becomes the fading one.
 */
function counterRetryAfter(
  state: CounterState,
  now: number,
  cost: number,
  limit: number,
  windowMs: number,
): number {
  if (cost > limit) return NEVER;
  const room = limit - state.current - cost;
  if (room >= 0 && state.previous > 0) {
    const elapsedNeeded = windowMs - (room * windowMs) / state.previous;
    return Math.max(1, Math.ceil(state.windowStart + elapsedNeeded - now));
  }
  const nextStart = state.windowStart + windowMs;
  const elapsedNeeded =
    state.current > 0 ? Math.max(0, windowMs - ((limit - cost) * windowMs) / state.current) : 0;
  return Math.max(1, Math.ceil(nextStart + elapsedNeeded - now));
}

// GCRA -----------------------------------------------------------------------------------

/**
 * Returns the time one unit of cost occupies, rounded up to a multiple of 1/2048 ms. With whole-
 * millisecond times every value the state takes is then a multiple of 1/2048 ms, which a
 * double represents exactly below 2^42 ms (the year 2109). Without the rounding, sums such as
 * `now + 1000 / 6` at wall-clock magnitudes lost the last request of a full burst. Rounding
 * up keeps the rate at or below the limit, slower by at most 1/2048 ms per unit.
 */
function emissionInterval(windowMs: number, limit: number): number {
  return Math.ceil((windowMs * 2048) / limit) / 2048;
}

export function createGcra(now: number): GcraState {
  return { tat: now };
}

/** Writes the outcome of a request of `cost` into `out` without consuming; returns `allowed`. */
export function evaluateGcra(
  out: Evaluation,
  state: GcraState,
  now: number,
  cost: number,
  limit: number,
  windowMs: number,
  burst: number,
): boolean {
  const interval = emissionInterval(windowMs, limit);
  const capacity = burst * interval;
  const backlog = Math.max(state.tat, now) - now;
  // Compare the backlog with the room this cost leaves, rather than computing the time the
  // request becomes allowed: in floating point (now + x) - x can exceed now, which rejected
  // requests on a full bucket.
  const room = (burst - cost) * interval;

  if (backlog <= room) {
    const remaining = Math.floor((room - backlog) / interval);
    return report(out, true, remaining, Math.ceil(backlog + cost * interval), 0);
  }
  const retryAfterMs = cost > burst ? NEVER : Math.ceil(backlog - room);
  const remaining = Math.max(0, Math.floor((capacity - backlog) / interval));
  return report(out, false, remaining, Math.ceil(backlog), retryAfterMs);
}

export function commitGcra(
  state: GcraState,
  now: number,
  cost: number,
  limit: number,
  windowMs: number,
): void {
  state.tat = Math.max(state.tat, now) + cost * emissionInterval(windowMs, limit);
}

export function gcraExpiresAt(state: GcraState): number {
  return state.tat;
}

// One interface over the three -------------------------------------------------------------

export const slidingWindowLog: AlgorithmImpl<LogState> = {
  create: createLog,
  evaluate(state, now, cost, { limit, windowMs }) {
    const out = newEvaluation();
    evaluateLog(out, state, now, cost, limit, windowMs);
    return out;
  },
  commit: (state, now, cost) => commitLog(state, now, cost),
  expiresAt: (state, { windowMs }) => logExpiresAt(state, windowMs),
};

export const slidingWindowCounter: AlgorithmImpl<CounterState> = {
  create: (now, { windowMs }) => createCounter(now, windowMs),
  evaluate(state, now, cost, { limit, windowMs }) {
    const out = newEvaluation();
    evaluateCounter(out, state, now, cost, limit, windowMs);
    return out;
  },
  commit: (state, _now, cost) => commitCounter(state, cost),
  expiresAt: (state, { windowMs }) => counterExpiresAt(state, windowMs),
};

export const gcra: AlgorithmImpl<GcraState> = {
  create: (now) => createGcra(now),
  evaluate(state, now, cost, { limit, windowMs, burst }) {
    const out = newEvaluation();
    evaluateGcra(out, state, now, cost, limit, windowMs, burst);
    return out;
  },
  commit: (state, now, cost, { limit, windowMs }) => commitGcra(state, now, cost, limit, windowMs),
  expiresAt: (state) => gcraExpiresAt(state),
};
