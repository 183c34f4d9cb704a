import { hostname } from 'node:os';

import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { newId } from '../core/ids.js';
import { redactDetails } from './redact.js';
import { EVENT_SCHEMA_VERSION, type EventDraft, type SecurityEvent } from './schema.js';

/** A consumer of events: a log file, the audit log, detection, metrics. */
export interface EventSink {
  readonly name: string;
  /** Receives a batch in publication order; a rejection is logged and counted, never thrown. */
  write(events: readonly SecurityEvent[]): Promise<void>;
  close?(): Promise<void>;
}

export interface EventBusOptions {
  /** Identifies this process in `source.instance`. */
  instance?: string;
  /** Queued events per sink beyond which new events are dropped and counted. */
  maxQueue?: number;
  logger?: Logger;
}

interface SinkState {
  sink: EventSink;
  queue: SecurityEvent[];
  flushing: Promise<void> | undefined;
  dropped: number;
  failed: number;
}

/**
 * In-process event bus. `publish` never blocks a request: it stamps the event, queues it for
 * every sink, and sinks drain asynchronously in batches. A sink that falls behind past
 * `maxQueue` loses new events, and each loss is counted and logged, never silent.
 */
export class EventBus {
  readonly instance: string;
  private readonly sinks: SinkState[] = [];
  private readonly listeners = new Set<(event: SecurityEvent) => void>();
  private readonly maxQueue: number;
  private readonly logger: Logger;

  constructor(options: EventBusOptions = {}) {
    this.instance = options.instance ?? `${hostname()}:${process.pid}`;
    this.maxQueue = options.maxQueue ?? 10_000;
    this.logger = options.logger ?? silentLogger;
  }

  addSink(sink: EventSink): void {
    this.sinks.push({ sink, queue: [], flushing: undefined, dropped: 0, failed: 0 });
  }

  /** Subscribes a synchronous listener, e.g. a metrics counter. Returns the unsubscribe call. */
  subscribe(listener: (event: SecurityEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(draft: EventDraft): SecurityEvent {
    const { component, details, target, ...rest } = draft;
    const event: SecurityEvent = {
      schemaVersion: EVENT_SCHEMA_VERSION,
      id: newId(),
      time: new Date().toISOString(),
      ...rest,
      target: target ?? {},
      source: { component, instance: this.instance },
      details: details ? redactDetails(details) : {},
    };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error, eventId: event.id }, 'event listener failed');
      }
    }
    for (const state of this.sinks) this.enqueue(state, event);
    return event;
  }

  /** Counts of events each sink dropped or failed to write. */
  stats(): Record<string, { queued: number; dropped: number; failed: number }> {
    const out: Record<string, { queued: number; dropped: number; failed: number }> = {};
    for (const s of this.sinks)
      out[s.sink.name] = { queued: s.queue.length, dropped: s.dropped, failed: s.failed };
    return out;
  }

  /** Resolves once every queued event has been handed to its sink. */
  async flush(): Promise<void> {
    while (this.sinks.some((s) => s.queue.length > 0 || s.flushing)) {
      await Promise.all(this.sinks.map((s) => s.flushing ?? this.drain(s)));
    }
  }

  async close(): Promise<void> {
    await this.flush();
    for (const { sink } of this.sinks) await sink.close?.();
  }

  private enqueue(state: SinkState, event: SecurityEvent): void {
    if (state.queue.length >= this.maxQueue) {
      state.dropped += 1;
      // Log the first drop and then every thousandth, so a stuck sink cannot flood the log.
      if (state.dropped === 1 || state.dropped % 1000 === 0) {
        this.logger.error(
          { sink: state.sink.name, dropped: state.dropped },
          'event sink queue full, events dropped',
        );
      }
      return;
    }
    state.queue.push(event);
    if (!state.flushing) state.flushing = this.drain(state);
  }

  private async drain(state: SinkState): Promise<void> {
    // Yield once so that events published in the same tick are written as one batch.
    await Promise.resolve();
    while (state.queue.length > 0) {
      const batch = state.queue.splice(0, 500);
      try {
        await state.sink.write(batch);
      } catch (error) {
        state.failed += batch.length;
        this.logger.error(
          { err: error, sink: state.sink.name, lost: batch.length },
          'event sink write failed',
        );
      }
    }
    state.flushing = undefined;
  }
}
