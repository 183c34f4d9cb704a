import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { EventBus, type EventSink } from '../../src/events/bus.js';
import { JsonLinesSink } from '../../src/events/jsonl-sink.js';
import {
  securityEventSchema,
  type EventDraft,
  type SecurityEvent,
} from '../../src/events/schema.js';

const draft: EventDraft = {
  type: 'ratelimit.exceeded',
  category: 'violation',
  severity: 'low',
  outcome: 'blocked',
  actor: { type: 'anonymous', ip: '192.0.2.1' },
  component: 'ratelimit',
  details: { policy: 'per-ip' },
};

class CollectingSink implements EventSink {
  readonly name = 'collect';
  readonly batches: SecurityEvent[][] = [];
  write(events: readonly SecurityEvent[]): Promise<void> {
    this.batches.push([...events]);
    return Promise.resolve();
  }
}

describe('event bus', () => {
  it('publishes events valid against the schema', () => {
    const bus = new EventBus({ instance: 'test-1' });
    const event = bus.publish({ ...draft, correlationId: 'abc' });
    expect(securityEventSchema.parse(event)).toEqual(event);
    expect(event.source).toEqual({ component: 'ratelimit', instance: 'test-1' });
    expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('issues time-ordered ids', () => {
    const bus = new EventBus();
    const ids = Array.from({ length: 50 }, () => bus.publish(draft).id);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(50);
  });

  it('redacts secrets and long strings in details', () => {
    const bus = new EventBus();
    const event = bus.publish({
      ...draft,
      details: { password: 'hunter2', nested: { apiKey: 'k' }, note: 'x'.repeat(1000) },
    });
    expect(event.details.password).toBe('[redacted]');
    expect((event.details.nested as Record<string, unknown>).apiKey).toBe('[redacted]');
    expect((event.details.note as string).length).toBeLessThan(300);
  });

  it('keeps a __proto__ key from request data as a plain field', () => {
    const bus = new EventBus();
    const details = JSON.parse('{"__proto__": {"polluted": true}, "field": "value"}') as Record<
      string,
      unknown
    >;

    const event = bus.publish({ ...draft, details });

    expect(Object.getPrototypeOf(event.details)).toBe(Object.prototype);
    expect((event.details as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(event.details))).toEqual(details);
  });

  it('delivers same-tick events as one batch', async () => {
    const bus = new EventBus();
    const sink = new CollectingSink();
    bus.addSink(sink);
    for (let i = 0; i < 5; i++) bus.publish(draft);
    await bus.flush();
    expect(sink.batches.map((batch) => batch.length)).toEqual([5]);
  });

  it('counts events a full queue drops', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const written: SecurityEvent[] = [];
    const stuck: EventSink = {
      name: 'stuck',
      write: async (events) => {
        await gate;
        written.push(...events);
      },
    };
    const bus = new EventBus({ maxQueue: 3 });
    bus.addSink(stuck);
    bus.publish(draft);
    // Let the first batch leave the queue, so the next events queue behind a stuck write.
    await Promise.resolve();
    await Promise.resolve();
    for (let i = 0; i < 5; i++) bus.publish(draft);
    expect(bus.stats().stuck).toEqual({ queued: 3, dropped: 2, failed: 0 });
    release();
    await bus.flush();
    expect(written).toHaveLength(4);
  });

  it('survives a failing sink and counts the loss', async () => {
    const failing: EventSink = {
      name: 'failing',
      write: () => Promise.reject(new Error('disk full')),
    };
    const sink = new CollectingSink();
    const bus = new EventBus();
    bus.addSink(failing);
    bus.addSink(sink);
    bus.publish(draft);
    await bus.flush();
    expect(bus.stats().failing!.failed).toBe(1);
    expect(sink.batches.flat()).toHaveLength(1);
  });

  it('writes JSON lines to a file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bwk-events-')), 'events.jsonl');
    const bus = new EventBus();
    bus.addSink(new JsonLinesSink(file));
    bus.publish(draft);
    bus.publish({ ...draft, outcome: 'would_block' });
    await bus.close();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SecurityEvent);
    expect(lines.map((event) => event.outcome)).toEqual(['blocked', 'would_block']);
  });
});
