import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

import type { PipelineObserver } from '../core/pipeline.js';
import type { EventBus } from '../events/bus.js';
import { LabelledHistogram } from './histogram.js';

/**
 * The gateway's Prometheus metrics, in a registry of their own so that several gateways in
 * one process (tests, embedding) do not collide.
 */
export class GatewayMetrics implements PipelineObserver {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'verdict'>;
  readonly guardDuration: LabelledHistogram;
  readonly upstreamDuration: LabelledHistogram;
  readonly events: Counter<'type' | 'outcome'>;
  readonly storeDegraded: Gauge;
  readonly slowBodies: Counter;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'bulwark_requests_total',
      help: 'Requests by matched route and verdict: forwarded, rejected, answered (a CORS preflight answered by the gateway), shed (by load shedding), upstream_error, upstream_timeout, client_aborted or error. Report-only rejections are counted in bulwark_security_events_total with outcome would_block.',
      labelNames: ['route', 'verdict'],
      registers,
      // Requests are tallied in plain numbers and added here, when the registry is read.
      collect: () => this.flushRequestCounts(),
    });
    this.guardDuration = new LabelledHistogram(
      'bulwark_guard_duration_seconds',
      'Time each guard took to reach its verdict.',
      'guard',
      [0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1],
      this.registry,
    );
    this.upstreamDuration = new LabelledHistogram(
      'bulwark_upstream_duration_seconds',
      'Time from forwarding a request to receiving the upstream response headers.',
      'route',
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      this.registry,
    );
    this.events = new Counter({
      name: 'bulwark_security_events_total',
      help: 'Security events published on the bus, by type and outcome.',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.slowBodies = new Counter({
      name: 'bulwark_slow_request_bodies_total',
      help: 'Request bodies ended because they arrived slower than limits.minBodyRate: answered 408, or the connection closed when the response had started.',
      registers,
    });
    this.storeDegraded = new Gauge({
      name: 'bulwark_ratelimit_store_degraded',
      help: '1 while the shared rate-limit store is unreachable and the configured failure mode decides.',
      registers,
    });
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'bulwark_' });
  }

  /** Requests not yet added to `requests`, by route, then by verdict. */
  private readonly pendingRequests = new Map<string, Map<string, number>>();

  /**
   * Counts one request in a plain map, which the counter adds up when the registry is read,
   * because prom-client's inc() validates and hashes the labels on each call.
   */
  countRequest(route: string, verdict: string): void {
    let byVerdict = this.pendingRequests.get(route);
    if (!byVerdict) {
      byVerdict = new Map();
      this.pendingRequests.set(route, byVerdict);
    }
    byVerdict.set(verdict, (byVerdict.get(verdict) ?? 0) + 1);
  }

  guardTimed(guard: string, seconds: number): void {
    this.guardDuration.labels(guard).observe(seconds);
  }

  upstreamTimed(route: string, seconds: number): void {
    this.upstreamDuration.labels(route).observe(seconds);
  }

  private flushRequestCounts(): void {
    for (const [route, byVerdict] of this.pendingRequests) {
      for (const [verdict, count] of byVerdict) {
        if (count > 0) this.requests.inc({ route, verdict }, count);
      }
      byVerdict.clear();
    }
  }

  /** Counts every event on the bus. */
  watch(bus: EventBus): void {
    bus.subscribe((event) => {
      this.events.inc({ type: event.type, outcome: event.outcome });
      if (event.type === 'http.body_too_slow') this.slowBodies.inc();
    });
  }
}
