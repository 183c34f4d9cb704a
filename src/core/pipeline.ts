import type { EventBus } from '../events/bus.js';
import type { EventDraft } from '../events/schema.js';
import type { RequestContext } from './context.js';
import type { Guard, Reject, Verdict } from './guard.js';
import { isPromise } from './guard.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import { problem } from './problem.js';

/**
 * The outcome of all guards, which the adapter carries out: continue, reject with a problem
 * body, or respond with a bodiless response (a CORS preflight).
 */
export type Decision =
  | { action: 'continue'; headers: Record<string, string> }
  | { action: 'reject'; status: number; headers: Record<string, string>; body: Reject['problem'] }
  | { action: 'respond'; status: number; headers: Record<string, string> };

export interface PipelineObserver {
  /** Called with each guard's duration in seconds. */
  guardTimed?(guard: string, seconds: number): void;
}

export interface PipelineOptions {
  guards: readonly Guard[];
  bus: EventBus;
  logger?: Logger;
  observer?: PipelineObserver;
  /** Decides per request whether rejections only report (the route's `reportOnly`). */
  reportOnlyFor?: (ctx: RequestContext) => boolean;
  /**
   * Publishes `auth.success` for every admitted request that carries a principal, so the
   * audit records who did what. Off where no guard authenticates.
   */
  successEvents?: boolean;
  /**
   * Called when the final decision rejects the request or responds to it without the
   * upstream, so that a guard that let it through can undo its work (files an upload stored).
   * The decision waits for a returned promise.
   */
  onReject?: (ctx: RequestContext) => void | Promise<void>;
}

/**
 * Runs guards in order (cheapest first) and stops at the first enforced rejection. The loop
 * stays synchronous until a guard returns a promise, so in-memory policies add no awaits.
 */
export class Pipeline {
  private readonly guards: readonly Guard[];
  private readonly bus: EventBus;
  private readonly logger: Logger;
  private readonly observer: PipelineObserver | undefined;
  private readonly reportOnlyFor: (ctx: RequestContext) => boolean;
  private readonly successEvents: boolean;
  private readonly onReject: ((ctx: RequestContext) => void | Promise<void>) | undefined;

  constructor(options: PipelineOptions) {
    this.guards = options.guards;
    this.bus = options.bus;
    this.logger = options.logger ?? silentLogger;
    this.observer = options.observer;
    this.reportOnlyFor = options.reportOnlyFor ?? (() => false);
    this.successEvents = options.successEvents ?? false;
    this.onReject = options.onReject;
  }

  run(ctx: RequestContext): Decision | Promise<Decision> {
    const decision = this.runFrom(ctx, 0);
    if (this.onReject === undefined) return decision;
    return isPromise(decision)
      ? decision.then((settled) => this.finish(ctx, settled))
      : this.finish(ctx, decision);
  }

  async close(): Promise<void> {
    for (const guard of this.guards) await guard.close?.();
  }

  /** Runs `onReject` unless the request continues, and awaits it only when it is async. */
  private finish(ctx: RequestContext, decision: Decision): Decision | Promise<Decision> {
    if (decision.action === 'continue') return decision;
    let undone: void | Promise<void>;
    try {
      undone = this.onReject!(ctx);
    } catch (error) {
      this.logger.error({ err: error, requestId: ctx.id }, 'undoing a rejected request failed');
      return decision;
    }
    if (!isPromise(undone)) return decision;
    return undone.then(
      () => decision,
      (error: unknown) => {
        this.logger.error({ err: error, requestId: ctx.id }, 'undoing a rejected request failed');
        return decision;
      },
    );
  }

  private runFrom(ctx: RequestContext, start: number): Decision | Promise<Decision> {
    for (let index = start; index < this.guards.length; index++) {
      const guard = this.guards[index]!;
      const began = this.observer ? performance.now() : 0;
      let verdict: Verdict | Promise<Verdict>;
      try {
        verdict = guard.check(ctx);
      } catch (error) {
        return this.guardFailed(ctx, guard, error);
      }
      if (isPromise(verdict)) {
        return verdict.then(
          (settled) => this.afterGuard(ctx, guard, settled, began, index),
          (error: unknown) => this.guardFailed(ctx, guard, error),
        );
      }
      const decision = this.settle(ctx, guard, verdict, began);
      if (decision) return decision;
    }
    if (this.successEvents && ctx.principal !== undefined) this.bus.publish(successEvent(ctx));
    return { action: 'continue', headers: ctx.responseHeaders };
  }

  private afterGuard(
    ctx: RequestContext,
    guard: Guard,
    verdict: Verdict,
    began: number,
    index: number,
  ): Decision | Promise<Decision> {
    return this.settle(ctx, guard, verdict, began) ?? this.runFrom(ctx, index + 1);
  }

  /** Returns a final decision for a response verdict or an enforced rejection, or undefined to go on. */
  private settle(
    ctx: RequestContext,
    guard: Guard,
    verdict: Verdict,
    began: number,
  ): Decision | undefined {
    if (this.observer?.guardTimed)
      this.observer.guardTimed(guard.name, (performance.now() - began) / 1000);
    if (verdict.action === 'continue') return undefined;
    if (verdict.action === 'respond') {
      return {
        action: 'respond',
        status: verdict.status,
        headers: { ...ctx.responseDefaults, ...ctx.responseHeaders, ...verdict.headers },
      };
    }

    const reportOnly =
      verdict.enforced !== true && (guard.reportOnly === true || this.reportOnlyFor(ctx));
    if (verdict.unreported !== true)
      this.bus.publish(eventFor(ctx, guard, verdict.event, reportOnly));
    if (reportOnly) return undefined;
    return {
      action: 'reject',
      status: verdict.status,
      // The response is the gateway's own, so no upstream value replaces the defaults.
      headers: { ...ctx.responseDefaults, ...ctx.responseHeaders, ...verdict.headers },
      body: verdict.problem,
    };
  }

  // A guard that throws is a bug or an outage in its store; the request gets a 500 problem
  // and the process keeps running.
  private guardFailed(ctx: RequestContext, guard: Guard, error: unknown): Decision {
    this.logger.error({ err: error, guard: guard.name, requestId: ctx.id }, 'guard failed');
    return {
      action: 'reject',
      status: 500,
      headers: {},
      body: problem('guard-failed', 500, 'Internal guard error', 'BWK_ERR_GUARD_FAILED', {
        detail: `The ${guard.name} guard failed; the request was not forwarded.`,
      }),
    };
  }
}

function successEvent(ctx: RequestContext): EventDraft {
  const principal = ctx.principal!;
  return {
    type: 'auth.success',
    category: 'authentication',
    severity: 'info',
    outcome: 'success',
    component: 'auth',
    correlationId: ctx.correlationId,
    actor: { type: principal.type, id: principal.id, ip: ctx.ip, userAgent: userAgentOf(ctx) },
    target: { method: ctx.method, route: ctx.route?.id, path: ctx.path.slice(0, 512) },
    details: { scopes: principal.scopes ?? [] },
  };
}

function userAgentOf(ctx: RequestContext): string | undefined {
  const userAgent = ctx.headers['user-agent'];
  return typeof userAgent === 'string' ? userAgent.slice(0, 256) : undefined;
}

function eventFor(
  ctx: RequestContext,
  guard: Guard,
  event: Reject['event'],
  reportOnly: boolean,
): EventDraft {
  const principal = ctx.principal;
  return {
    ...event,
    component: guard.name,
    outcome: reportOnly ? 'would_block' : 'blocked',
    correlationId: ctx.correlationId,
    actor: event.actor ?? {
      type: principal ? principal.type : 'anonymous',
      id: principal?.id,
      ip: ctx.ip,
      userAgent: userAgentOf(ctx),
    },
    target: {
      method: ctx.method,
      route: ctx.route?.id,
      path: ctx.path.slice(0, 512),
      ...event.target,
    },
  };
}
