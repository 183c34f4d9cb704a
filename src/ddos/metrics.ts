/**
 * Prometheus metrics of the connection defence and the load shedder. Both keep plain totals;
 * these metrics read them when the registry is collected, so nothing on the request path
 * touches prom-client.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

import type { ConnectionDefence } from './connection-defence.js';
import type { LoadShedder } from './load-shedding.js';

export interface DdosMetricSources {
  connections?: ConnectionDefence;
  loadShedder?: LoadShedder;
}

/** Registers the metrics of whichever sources are given. */
export function registerDdosMetrics(registry: Registry, sources: DdosMetricSources): void {
  if (sources.connections !== undefined) registerConnectionMetrics(registry, sources.connections);
  if (sources.loadShedder !== undefined) registerSheddingMetrics(registry, sources.loadShedder);
}

function registerConnectionMetrics(registry: Registry, defence: ConnectionDefence): void {
  const registers = [registry];
  const reported = { rejected: {}, closed: {} };
  new Gauge({
    name: 'bulwark_connections_open',
    help: 'Client connections currently open.',
    registers,
    collect() {
      this.set(defence.totals.open);
    },
  });
  const rejected: Counter<'reason'> = new Counter({
    name: 'bulwark_connections_rejected_total',
    help: 'Connections reset on accept by a per-IP limit: concurrent or rate (new connections per second).',
    labelNames: ['reason'],
    registers,
    collect: () => addDeltas(rejected, reported.rejected, defence.totals.rejected),
  });
  const closed: Counter<'reason'> = new Counter({
    name: 'bulwark_connections_closed_total',
    help: 'Connections the gateway ended: headers_timeout and request_timeout (slow clients), idle_timeout (keep-alive idle), max_requests (request limit per connection reached).',
    labelNames: ['reason'],
    registers,
    collect: () => addDeltas(closed, reported.closed, defence.totals.closed),
  });
}

function registerSheddingMetrics(registry: Registry, shedder: LoadShedder): void {
  const registers = [registry];
  new Gauge({
    name: 'bulwark_load_shedding_limit',
    help: 'Requests the adaptive concurrency limit lets in flight.',
    registers,
    collect() {
      this.set(shedder.stats().limit);
    },
  });
  new Gauge({
    name: 'bulwark_load_shedding_in_flight',
    help: 'Requests admitted by the load shedder and not yet finished.',
    registers,
    collect() {
      this.set(shedder.stats().inFlight);
    },
  });
  new Gauge({
    name: 'bulwark_load_shedding_queue_length',
    help: 'Requests waiting for a slot.',
    registers,
    collect() {
      this.set(shedder.stats().queued);
    },
  });
  new Gauge({
    name: 'bulwark_load_shedding_event_loop_delay_seconds',
    help: 'p99 event-loop delay in the last sampling window, as the load shedder sees it.',
    registers,
    collect() {
      this.set(shedder.stats().eventLoopDelayMs / 1000);
    },
  });
  const reported: Record<string, Record<string, number>> = {};
  const shed: Counter<'priority' | 'reason'> = new Counter({
    name: 'bulwark_load_shedding_shed_total',
    help: 'Requests shed with 503, by priority and reason: queue_full, queue_timeout, displaced (by a higher priority), report_only (would have been shed, admitted).',
    labelNames: ['priority', 'reason'],
    registers,
    collect: () => {
      for (const [priority, reasons] of Object.entries(shedder.stats().shed)) {
        reported[priority] ??= {};
        addDeltas(shed, reported[priority], reasons, { priority });
      }
    },
  });
}

/** Adds to `counter` what each reason's total grew by since the last collection. */
function addDeltas(
  counter: Counter<string>,
  reported: Record<string, number>,
  totals: Readonly<Record<string, number>>,
  labels: Record<string, string> = {},
): void {
  for (const [reason, total] of Object.entries(totals)) {
    // An increment of 0 still shows the series, so every reason is listed from the start.
    counter.inc({ ...labels, reason }, total - (reported[reason] ?? 0));
    reported[reason] = total;
  }
}
