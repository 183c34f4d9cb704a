import type { Algorithm } from './policy.js';

/**
 * The algorithms as functions over plain state, shared by the memory store. The Redis Lua
 * script implements the same arithmetic; the store contract tests hold them to one model.
 *
 * `evaluate` never changes the meaning of the state (it may drop expired log entries), and
 * `commit` records an admitted request. Splitting the two lets a store check every limit of
 * a request before it consumes quota in any of them.
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

export const slidingWindowLog: AlgorithmImpl<LogState> = {
  create: () => ({ entries: [] }),

  evaluate(state, now, cost, { limit, windowMs }) {
    const entries = state.entries;
    let firstLive = 0;
    while (firstLive < entries.length && entries[firstLive]! <= now - windowMs) firstLive += 2;
    if (firstLive > 0) entries.splice(0, firstLive);

    let used = 0;
    for (let i = 1; i < entries.length; i += 2) used += entries[i]!;

    if (used + cost <= limit) {
      // The admitted request becomes the newest entry, so the quota is full one window later.
      return { allowed: true, remaining: limit - used - cost, resetMs: windowMs, retryAfterMs: 0 };
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
    return { allowed: false, remaining: Math.max(0, limit - used), resetMs, retryAfterMs };
  },

  commit(state, now, cost) {
    state.entries.push(now, cost);
  },

  expiresAt: (state, { windowMs }) =>
    state.entries.length > 0 ? state.entries[state.entries.length - 2]! + windowMs : 0,
};

export const slidingWindowCounter: AlgorithmImpl<CounterState> = {
  create: (now, { windowMs }) => ({ windowStart: now - (now % windowMs), current: 0, previous: 0 }),

  evaluate(state, now, cost, { limit, windowMs }) {
    rollCounter(state, now, windowMs);
    const elapsed = now - state.windowStart;
    const weight = (windowMs - elapsed) / windowMs;
    const estimate = state.previous * weight + state.current;

    if (estimate + cost <= limit) {
      return {
        allowed: true,
        remaining: Math.floor(limit - estimate - cost),
        resetMs: counterResetMs(state, state.current + cost, now, windowMs),
        retryAfterMs: 0,
      };
    }
    return {
      allowed: false,
      remaining: Math.max(0, Math.floor(limit - estimate)),
      resetMs: counterResetMs(state, state.current, now, windowMs),
      retryAfterMs: counterRetryAfter(state, now, cost, limit, windowMs),
    };
  },

  commit(state, _now, cost) {
    state.current += cost;
  },

  expiresAt: (state, { windowMs }) => state.windowStart + 2 * windowMs,
};

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

/**
 * The time one unit of cost occupies, rounded up to a multiple of 1/2048 ms. With whole-
 * millisecond times every value the state takes is then a multiple of 1/2048 ms, which a
 * double represents exactly below 2^42 ms (the year 2109). Without the rounding, sums such as
 * `now + 1000 / 6` at wall-clock magnitudes lost the last request of a full burst. Rounding
 * up keeps the rate at or below the limit, slower by at most 1/2048 ms per unit.
 */
function emissionInterval(windowMs: number, limit: number): number {
  return Math.ceil((windowMs * 2048) / limit) / 2048;
}

export const gcra: AlgorithmImpl<GcraState> = {
  create: (now) => ({ tat: now }),

  evaluate(state, now, cost, { limit, windowMs, burst }) {
    const interval = emissionInterval(windowMs, limit);
    const capacity = burst * interval;
    const backlog = Math.max(state.tat, now) - now;
    // Compare the backlog with the room this cost leaves, rather than computing the time the
    // request becomes allowed: in floating point (now + x) - x can exceed now, which rejected
    // requests on a full bucket.
    const room = (burst - cost) * interval;

    if (backlog <= room) {
      return {
        allowed: true,
        remaining: Math.floor((room - backlog) / interval),
        resetMs: Math.ceil(backlog + cost * interval),
        retryAfterMs: 0,
      };
    }
    const retryAfterMs = cost > burst ? NEVER : Math.ceil(backlog - room);
    return {
      allowed: false,
      remaining: Math.max(0, Math.floor((capacity - backlog) / interval)),
      resetMs: Math.ceil(backlog),
      retryAfterMs,
    };
  },

  commit(state, now, cost, { limit, windowMs }) {
    state.tat = Math.max(state.tat, now) + cost * emissionInterval(windowMs, limit);
  },

  expiresAt: (state) => state.tat,
};

export function algorithmImpl(name: Algorithm): AlgorithmImpl<AlgorithmState> {
  switch (name) {
    case 'sliding-window-log':
      return slidingWindowLog as AlgorithmImpl<AlgorithmState>;
    case 'sliding-window-counter':
      return slidingWindowCounter as AlgorithmImpl<AlgorithmState>;
    case 'gcra':
      return gcra as AlgorithmImpl<AlgorithmState>;
  }
}
