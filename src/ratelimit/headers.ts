import type { LimitDecision } from './policy.js';

export interface HeaderOptions {
  /** `RateLimit-Policy` and `RateLimit` as in draft-ietf-httpapi-ratelimit-headers-10. */
  draft: boolean;
  /** `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds). */
  legacy: boolean;
}

/**
 * Writes rate-limit headers for the decisions of one request. The draft fields list every
 * policy; the legacy fields describe the most restrictive one (least remaining), because
 * they can carry only one. Reset values are whole seconds, rounded up.
 */
export function writeRateLimitHeaders(
  target: Record<string, string>,
  decisions: readonly LimitDecision[],
  windows: readonly number[],
  options: HeaderOptions,
): void {
  if (decisions.length === 0) return;
  if (options.draft) {
    let policy = '';
    let state = '';
    for (let i = 0; i < decisions.length; i++) {
      const decision = decisions[i]!;
      const separator = i === 0 ? '' : ', ';
      policy += `${separator}"${decision.policy}";q=${decision.limit};w=${Math.ceil(windows[i]! / 1000)}`;
      state += `${separator}"${decision.policy}";r=${decision.remaining};t=${seconds(decision.resetMs)}`;
    }
    target['ratelimit-policy'] = policy;
    target['ratelimit'] = state;
  }
  if (options.legacy) {
    const tightest = mostRestrictive(decisions);
    target['x-ratelimit-limit'] = String(tightest.limit);
    target['x-ratelimit-remaining'] = String(tightest.remaining);
    target['x-ratelimit-reset'] = String(seconds(tightest.resetMs));
  }
}

/** Returns the rejecting decision with the longest wait, else the one with the least remaining. */
export function mostRestrictive(decisions: readonly LimitDecision[]): LimitDecision {
  let chosen = decisions[0]!;
  for (const decision of decisions) {
    if (!decision.allowed && (chosen.allowed || decision.retryAfterMs > chosen.retryAfterMs))
      chosen = decision;
    else if (chosen.allowed && decision.allowed && decision.remaining < chosen.remaining)
      chosen = decision;
  }
  return chosen;
}

/** Whole seconds, rounded up, so a client that waits this long is never early. */
export function seconds(ms: number): number {
  if (!Number.isFinite(ms)) return 0;
  return Math.max(0, Math.ceil(ms / 1000));
}
