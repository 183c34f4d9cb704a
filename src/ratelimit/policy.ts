/** The three algorithms; see docs/rate-limiting.md for each one's accuracy and memory. */
export const algorithms = ['sliding-window-log', 'sliding-window-counter', 'gcra'] as const;
export type Algorithm = (typeof algorithms)[number];

/** A rate-limit policy with durations resolved to milliseconds. */
export interface LimitPolicy {
  name: string;
  algorithm: Algorithm;
  /** Requests (cost units) admitted per window. */
  limit: number;
  windowMs: number;
  /** GCRA only: how many units may arrive at once; defaults to `limit`. */
  burst?: number;
  /** After a rejection, keep the key rejected this long. */
  blockForMs?: number;
}

/** One limit to check for one request: the policy, the key it counts under and the cost. */
export interface LimitCheck {
  policy: LimitPolicy;
  /** Full storage key, already including the policy name. */
  key: string;
  cost: number;
  /** Overrides `policy.limit` for this check, e.g. a plan tier or the local fallback share. */
  limit?: number;
}

/** The outcome of one limit for one request; remaining and reset come from the same decision. */
export interface LimitDecision {
  policy: string;
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the quota is restored in full. */
  resetMs: number;
  /** Milliseconds until the same request could be admitted; 0 when allowed. */
  retryAfterMs: number;
  /** True when the key was rejected because of an earlier `blockFor`. */
  blocked: boolean;
  /** True when no store could decide and fail-closed mode rejected the request. */
  unavailable?: boolean;
}

/**
 * Storage for rate-limit state. `consume` checks every limit of a request together and
 * atomically: when any limit rejects, no quota is consumed in any of them.
 */
export interface RateLimitStore {
  readonly kind: string;
  consume(
    checks: readonly LimitCheck[],
  ): readonly LimitDecision[] | Promise<readonly LimitDecision[]>;
  /** Forgets a key's state, e.g. after a successful login. */
  reset(key: string): void | Promise<void>;
  close(): Promise<void>;
}
