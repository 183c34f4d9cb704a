import type { EventDraft } from '../events/schema.js';
import type { RequestContext } from './context.js';
import type { Problem } from './problem.js';

/** A guard lets the request continue. */
export interface Continue {
  readonly action: 'continue';
}

/**
 * A guard rejects the request. The adapter writes `status`, `headers` and the problem body;
 * the pipeline publishes `event`, with outcome `blocked`, or `would_block` in report-only mode.
 */
export interface Reject {
  readonly action: 'reject';
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly problem: Problem;
  readonly event: Omit<EventDraft, 'outcome' | 'actor' | 'component' | 'correlationId'> & {
    actor?: EventDraft['actor'];
  };
  /**
   * Set by a guard that samples its events on the rejections it does not report, so that a
   * flood from one banned address does not become a flood of events.
   */
  readonly unreported?: boolean;
  /**
   * Set when the request cannot go on whatever the mode, such as a body cut off at its size
   * limit: report-only mode does not apply, and the event's outcome is `blocked`.
   */
  readonly enforced?: boolean;
}

/**
 * A guard answers the request itself, as the CORS guard does for a preflight. The adapter
 * writes `status` and `headers` with an empty body, and neither later guards nor the upstream
 * see the request. Report-only mode does not apply, because an answer is not a rejection.
 */
export interface Respond {
  readonly action: 'respond';
  readonly status: number;
  readonly headers: Record<string, string>;
}

export type Verdict = Continue | Reject | Respond;

export const CONTINUE: Continue = Object.freeze({ action: 'continue' });

/**
 * A unit of protection with one job. `check` returns synchronously when its state is in
 * memory; only guards that need I/O return a promise.
 */
export interface Guard {
  readonly name: string;
  /** Record rejections as `would_block` and let the request through. */
  readonly reportOnly?: boolean;
  check(ctx: RequestContext): Verdict | Promise<Verdict>;
  close?(): Promise<void>;
}

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
