import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { PipelineObserver } from '../core/pipeline.js';
import type { EventBus } from '../events/bus.js';

/**
 * The gateway's Prometheus metrics, in a registry of their own so that several gateways in
 * one process (tests, embedding) do not collide.
 */
export class GatewayMetrics implements PipelineObserver {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'verdict'>;
  readonly guardDuration: Histogram<'guard'>;
  readonly upstreamDuration: Histogram<'route'>;
  readonly events: Counter<'type' | 'outcome'>;
  readonly storeDegraded: Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'bulwark_requests_total',
      help: 'Requests by matched route and verdict (forwarded, rejected, would_block, error).',
      labelNames: ['route', 'verdict'],
      registers,
    });
    this.guardDuration = new Histogram({
      name: 'bulwark_guard_duration_seconds',
      help: 'Time each guard took to reach its verdict.',
      labelNames: ['guard'],
      buckets: [0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: 'bulwark_upstream_duration_seconds',
      help: 'Time from forwarding a request to receiving the upstream response headers.',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.events = new Counter({
      name: 'bulwark_security_events_total',
      help: 'Security events published on the bus, by type and outcome.',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.storeDegraded = new Gauge({
      name: 'bulwark_ratelimit_store_degraded',
      help: '1 while the shared rate-limit store is unreachable and a local fallback answers.',
      registers,
    });
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'bulwark_' });
  }

  private readonly requestCounters = new Map<string, { inc(): void }>();
  private readonly guardHistograms = new Map<string, { observe(value: number): void }>();

  /** Counts one request; label children are cached because label lookup dominates inc(). */
  countRequest(route: string, verdict: string): void {
    const key = `${route}\u0000${verdict}`;
    let child = this.requestCounters.get(key);
    if (!child) {
      child = this.requests.labels(route, verdict);
      this.requestCounters.set(key, child);
    }
    child.inc();
  }

  guardTimed(guard: string, seconds: number): void {
    let child = this.guardHistograms.get(guard);
    if (!child) {
      child = this.guardDuration.labels(guard);
      this.guardHistograms.set(guard, child);
    }
    child.observe(seconds);
  }

  /** Counts every event on the bus. */
  watch(bus: EventBus): void {
    bus.subscribe((event) => this.events.inc({ type: event.type, outcome: event.outcome }));
  }
}
