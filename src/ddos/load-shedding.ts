/**
 * Load shedding: an adaptive concurrency limit in front of the upstream (or the
 * application's handler), a bounded queue with a deadline for requests over the limit, and
 * priorities that decide who waits and who is shed.
 *
 * The shedder runs after the guards admitted a request, just before the upstream call. That
 * is the first point where the principal is known, which the priorities need, and the
 * point where the expensive work starts. The guards before it cost little next to an
 * upstream call (in-memory checks, cached credentials, one Redis round trip for shared rate
 * limits), so a flood still costs little per shed request.
 *
 * Priorities, highest first: `critical` (routes configured so, such as health checks; they
 * bypass the limit), `authenticated` (a guard set a principal), `anonymous`. A waiting
 * request of higher priority is always admitted first, and an authenticated request that
 * finds the queue full displaces the newest anonymous one.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

import type { RequestContext } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import { problem, type Problem } from '../core/problem.js';
import type { EventBus } from '../events/bus.js';
import { GradientLimit } from './concurrency-limit.js';
import type { LoadSheddingConfig, Priority } from './config-schema.js';
import { WaitQueue, type Waiter } from './wait-queue.js';

/**
 * The cause of a shed. `report_only` counts requests that would have been shed but were
 * admitted, because the policy only reports.
 */
export type ShedReason = 'queue_full' | 'queue_timeout' | 'displaced' | 'report_only';
const shedReasons: readonly ShedReason[] = [
  'queue_full',
  'queue_timeout',
  'displaced',
  'report_only',
];

/** The request holds a slot until `release` is called, once, when its response has closed. */
export interface Admitted {
  readonly state: 'admitted';
  readonly release: () => void;
}

/** The request is rejected with 503 and `Retry-After`. */
export interface Shed {
  readonly state: 'shed';
  readonly reason: ShedReason;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly problem: Problem;
}

/** The request waits for a slot. `cancel` takes it out of the queue when its client leaves. */
export interface Queued {
  readonly state: 'queued';
  readonly settled: Promise<Admitted | Shed>;
  cancel(): void;
}

export type Admission = Admitted | Shed | Queued;

export interface LoadSheddingStats {
  limit: number;
  inFlight: number;
  queued: number;
  /** The event loop's p99 delay in the last sampling window, in ms. */
  eventLoopDelayMs: number;
  /** Requests shed since start, by priority and reason. */
  shed: Record<Priority, Record<ShedReason, number>>;
}

export interface LoadShedderOptions {
  bus: EventBus;
  logger: Logger;
  /** Priorities set per route, by route id such as `GET /health`. */
  routePriorities?: ReadonlyMap<string, Priority>;
  /** Whether a request's route only reports (`routes[].reportOnly`). */
  reportOnlyFor?: (ctx: RequestContext) => boolean;
}

interface QueuedRequest extends Waiter {
  priority: Priority;
  resolve: (result: Admitted | Shed) => void;
  timer: NodeJS.Timeout | undefined;
}

const UPDATE_INTERVAL_MS = 100;
/** A window closes with this many completed requests, or after MAX_WINDOW_MS with at least one. */
const MIN_SAMPLES = 5;
const MAX_WINDOW_MS = 1_000;
const EVENT_LOOP_RESOLUTION_MS = 10;

const CRITICAL: Admitted = Object.freeze({ state: 'admitted', release: () => {} });

export class LoadShedder {
  private readonly limiter: GradientLimit;
  private readonly authenticated = new WaitQueue();
  private readonly anonymous = new WaitQueue();
  private readonly eventLoop: IntervalHistogram;
  private readonly routePriorities: ReadonlyMap<string, Priority>;
  private readonly reportOnlyFor: (ctx: RequestContext) => boolean;
  private readonly retryAfterSeconds: number;
  private readonly problem: Problem;
  private readonly timers: NodeJS.Timeout[] = [];

  private inFlight = 0;
  private eventLoopDelayMs = 0;
  private window = { samples: 0, latencySum: 0, peakInFlight: 0, startedAt: performance.now() };
  private readonly totals = emptyTotals();
  private sinceReport = emptyTotals();

  constructor(
    private readonly config: LoadSheddingConfig,
    private readonly options: LoadShedderOptions,
  ) {
    this.limiter = new GradientLimit(config);
    this.routePriorities = options.routePriorities ?? new Map();
    this.reportOnlyFor = options.reportOnlyFor ?? (() => false);
    this.retryAfterSeconds = Math.max(1, Math.ceil(config.retryAfter / 1000));
    this.problem = problem('overloaded', 503, 'Service Unavailable', 'BWK_ERR_OVERLOADED', {
      detail: `The service is overloaded; retry after ${this.retryAfterSeconds} s.`,
    });
    this.eventLoop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    this.eventLoop.enable();
    this.timers.push(setInterval(() => this.updateLimit(), UPDATE_INTERVAL_MS).unref());
    this.timers.push(setInterval(() => this.report(), config.reportInterval).unref());
  }

  /** Returns the request's priority: its route's, else by whether a guard set a principal. */
  priorityOf(ctx: RequestContext): Priority {
    const configured = ctx.route && this.routePriorities.get(ctx.route.id);
    if (configured !== undefined) return configured;
    return ctx.principal === undefined ? 'anonymous' : 'authenticated';
  }

  /** Admits the request, queues it, or sheds it. */
  admit(ctx: RequestContext): Admission {
    const priority = this.priorityOf(ctx);
    if (priority === 'critical') return CRITICAL;
    if (this.inFlight < this.limiter.limit) return this.start();

    if (this.config.reportOnly || this.reportOnlyFor(ctx)) {
      this.countShed(priority, 'report_only');
      return this.start();
    }
    if (this.queued >= this.config.queue.size && !this.displaceFor(priority)) {
      return this.shed(priority, 'queue_full');
    }
    return this.enqueue(priority);
  }

  stats(): LoadSheddingStats {
    return {
      limit: this.limiter.limit,
      inFlight: this.inFlight,
      queued: this.queued,
      eventLoopDelayMs: this.eventLoopDelayMs,
      shed: structuredClone(this.totals),
    };
  }

  /** Stops the timers, sheds every waiting request and reports the last interval. */
  close(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.eventLoop.disable();
    for (const queue of [this.authenticated, this.anonymous]) {
      for (let waiter = queue.shift(); waiter !== undefined; waiter = queue.shift()) {
        const request = waiter as QueuedRequest;
        clearTimeout(request.timer);
        request.resolve(this.shed(request.priority, 'queue_timeout'));
      }
    }
    this.report();
  }

  private get queued(): number {
    return this.authenticated.size + this.anonymous.size;
  }

  private start(): Admitted {
    this.inFlight += 1;
    if (this.inFlight > this.window.peakInFlight) this.window.peakInFlight = this.inFlight;
    const startedAt = performance.now();
    let released = false;
    return {
      state: 'admitted',
      release: () => {
        if (released) return;
        released = true;
        this.finish(performance.now() - startedAt);
      },
    };
  }

  private finish(latencyMs: number): void {
    this.inFlight -= 1;
    this.window.samples += 1;
    this.window.latencySum += latencyMs;
    this.drain();
  }

  /** Admits waiting requests, highest priority first, while slots are free. */
  private drain(): void {
    while (this.inFlight < this.limiter.limit) {
      const waiter = (this.authenticated.shift() ?? this.anonymous.shift()) as
        QueuedRequest | undefined;
      if (waiter === undefined) return;
      clearTimeout(waiter.timer);
      waiter.resolve(this.start());
    }
  }

  /** Makes room in a full queue by shedding the newest request of lower priority. */
  private displaceFor(priority: Priority): boolean {
    if (priority !== 'authenticated' || this.anonymous.size === 0) return false;
    const displaced = this.anonymous.pop() as QueuedRequest;
    clearTimeout(displaced.timer);
    displaced.resolve(this.shed('anonymous', 'displaced'));
    return true;
  }

  private enqueue(priority: Priority): Admission {
    const queue = priority === 'authenticated' ? this.authenticated : this.anonymous;
    let resolve!: (result: Admitted | Shed) => void;
    const settled = new Promise<Admitted | Shed>((done) => (resolve = done));
    const request: QueuedRequest = {
      prev: undefined,
      next: undefined,
      queue: undefined,
      priority,
      resolve,
      timer: undefined,
    };
    request.timer = setTimeout(() => {
      queue.remove(request);
      resolve(this.shed(priority, 'queue_timeout'));
    }, this.config.queue.timeout);
    queue.push(request);
    return {
      state: 'queued',
      settled,
      cancel: () => {
        clearTimeout(request.timer);
        queue.remove(request);
      },
    };
  }

  private shed(priority: Priority, reason: ShedReason): Shed {
    this.countShed(priority, reason);
    return {
      state: 'shed',
      reason,
      status: 503,
      headers: { 'retry-after': String(this.retryAfterSeconds) },
      problem: this.problem,
    };
  }

  private countShed(priority: Priority, reason: ShedReason): void {
    this.totals[priority][reason] += 1;
    this.sinceReport[priority][reason] += 1;
  }

  private updateLimit(): void {
    const p99 = this.eventLoop.percentile(99) / 1e6;
    this.eventLoop.reset();
    this.eventLoopDelayMs = Math.max(0, p99 - EVENT_LOOP_RESOLUTION_MS);

    const window = this.window;
    const now = performance.now();
    const complete =
      window.samples >= MIN_SAMPLES ||
      (window.samples > 0 && now - window.startedAt >= MAX_WINDOW_MS);
    this.limiter.update({
      meanLatencyMs: complete ? window.latencySum / window.samples : undefined,
      peakInFlight: window.peakInFlight,
      eventLoopDelayMs: this.eventLoopDelayMs,
    });
    if (complete) {
      this.window = { samples: 0, latencySum: 0, peakInFlight: this.inFlight, startedAt: now };
    }
    this.drain();
  }

  /** Publishes one event and one log line for the interval, if anything was shed. */
  private report(): void {
    const counts = this.sinceReport;
    this.sinceReport = emptyTotals();
    const byReason = Object.fromEntries(shedReasons.map((reason) => [reason, 0])) as Record<
      ShedReason,
      number
    >;
    const byPriority: Record<string, number> = {};
    for (const [priority, reasons] of Object.entries(counts)) {
      for (const reason of shedReasons) byReason[reason] += reasons[reason];
      byPriority[priority] = shedReasons.reduce((sum, reason) => sum + reasons[reason], 0);
    }
    const wouldShed = byReason.report_only;
    const shed = Object.values(byPriority).reduce((sum, count) => sum + count, 0) - wouldShed;
    if (shed + wouldShed === 0) return;

    const details = {
      shed,
      wouldShed,
      reasons: byReason,
      priorities: byPriority,
      limit: this.limiter.limit,
      inFlight: this.inFlight,
      queued: this.queued,
      eventLoopDelayMs: Math.round(this.eventLoopDelayMs),
      baselineLatencyMs: this.limiter.baselineLatencyMs,
      intervalMs: this.config.reportInterval,
    };
    this.options.bus.publish({
      type: 'ddos.shed',
      category: 'system',
      severity: 'medium',
      outcome: shed > 0 ? 'blocked' : 'would_block',
      component: 'load-shedding',
      actor: { type: 'system' },
      details,
    });
    this.options.logger.warn(details, 'requests shed under load');
  }
}

function emptyTotals(): Record<Priority, Record<ShedReason, number>> {
  const reasons = (): Record<ShedReason, number> => ({
    queue_full: 0,
    queue_timeout: 0,
    displaced: 0,
    report_only: 0,
  });
  return { critical: reasons(), authenticated: reasons(), anonymous: reasons() };
}
