import { afterEach, describe, expect, it } from 'vitest';

import { createContext, type RequestContext } from '../../src/core/context.js';
import { silentLogger } from '../../src/core/logger.js';
import { loadSheddingDefaults } from '../../src/ddos/config-schema.js';
import { LoadShedder, type Admission, type Admitted } from '../../src/ddos/load-shedding.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';

const shedders: LoadShedder[] = [];
afterEach(() => {
  for (const shedder of shedders.splice(0)) shedder.close();
});

function shedder(
  overrides: Partial<typeof loadSheddingDefaults> = {},
  options: { events?: SecurityEvent[]; reportOnlyRoute?: string } = {},
): LoadShedder {
  const bus = new EventBus();
  if (options.events) {
    const events = options.events;
    bus.subscribe((event) => events.push(event));
  }
  const created = new LoadShedder(
    { ...loadSheddingDefaults, initialLimit: 1, minLimit: 1, maxLimit: 1, ...overrides },
    {
      bus,
      logger: silentLogger,
      routePriorities: new Map([['GET /health', 'critical' as const]]),
      reportOnlyFor: (ctx) =>
        options.reportOnlyRoute !== undefined && ctx.route?.id === options.reportOnlyRoute,
    },
  );
  shedders.push(created);
  return created;
}

function context(options: { route?: string; user?: string } = {}): RequestContext {
  const ctx = createContext({
    id: 'r',
    correlationId: 'r',
    method: 'GET',
    url: '/',
    headers: {},
    ip: '192.0.2.1',
    remoteAddress: '192.0.2.1',
    receivedAt: 0,
  });
  if (options.route) ctx.route = { id: options.route, params: {}, policy: {} };
  if (options.user) ctx.principal = { type: 'user', id: options.user };
  return ctx;
}

function admitted(admission: Admission): Admitted {
  if (admission.state !== 'admitted') throw new Error(`expected admitted, got ${admission.state}`);
  return admission;
}

describe('LoadShedder', () => {
  it('admits up to the limit, then queues', () => {
    const subject = shedder();

    const first = subject.admit(context());
    const second = subject.admit(context());

    expect(first.state).toBe('admitted');
    expect(second.state).toBe('queued');
    expect(subject.stats()).toMatchObject({ limit: 1, inFlight: 1, queued: 1 });
  });

  it('admits a waiting request when a slot is released', async () => {
    const subject = shedder();
    const first = admitted(subject.admit(context()));
    const second = subject.admit(context());
    if (second.state !== 'queued') throw new Error('expected queued');

    first.release();

    expect((await second.settled).state).toBe('admitted');
    expect(subject.stats()).toMatchObject({ inFlight: 1, queued: 0 });
  });

  it('counts a double release once', () => {
    const subject = shedder();
    const first = admitted(subject.admit(context()));

    first.release();
    first.release();

    expect(subject.stats().inFlight).toBe(0);
  });

  it('sheds a waiting request at its deadline', async () => {
    const subject = shedder({ queue: { size: 10, timeout: 50 } });
    subject.admit(context());
    const waiting = subject.admit(context());
    if (waiting.state !== 'queued') throw new Error('expected queued');

    const result = await waiting.settled;

    expect(result).toMatchObject({ state: 'shed', reason: 'queue_timeout', status: 503 });
    expect(subject.stats().shed.anonymous.queue_timeout).toBe(1);
  });

  it('sheds at once without a queue', () => {
    const subject = shedder({ queue: { size: 0, timeout: 1_000 } });
    subject.admit(context());

    const result = subject.admit(context());

    expect(result).toMatchObject({ state: 'shed', reason: 'queue_full' });
    expect(result).toHaveProperty(['headers', 'retry-after'], '1');
  });

  it('rounds Retry-After up to whole seconds', () => {
    const subject = shedder({ queue: { size: 0, timeout: 1_000 }, retryAfter: 1_500 });
    subject.admit(context());

    const result = subject.admit(context());

    expect(result).toHaveProperty(['headers', 'retry-after'], '2');
  });

  it('lets critical routes bypass the limit', () => {
    const subject = shedder({ queue: { size: 0, timeout: 1_000 } });
    subject.admit(context());

    const health = subject.admit(context({ route: 'GET /health' }));

    expect(health.state).toBe('admitted');
    expect(subject.stats().inFlight).toBe(1);
  });

  it('admits over the limit in report-only mode and counts it', () => {
    const subject = shedder({ reportOnly: true, queue: { size: 0, timeout: 1_000 } });
    subject.admit(context());

    const over = subject.admit(context());

    expect(over.state).toBe('admitted');
    expect(subject.stats().shed.anonymous.report_only).toBe(1);
  });

  it('applies report-only routes', () => {
    const subject = shedder({ queue: { size: 0, timeout: 1_000 } }, { reportOnlyRoute: 'GET /x' });
    subject.admit(context());

    expect(subject.admit(context({ route: 'GET /x' })).state).toBe('admitted');
    expect(subject.admit(context({ route: 'GET /y' })).state).toBe('shed');
  });

  it('reports would-be sheds as would_block', async () => {
    const events: SecurityEvent[] = [];
    const subject = shedder(
      { reportOnly: true, queue: { size: 0, timeout: 1_000 }, reportInterval: 50 },
      { events },
    );
    subject.admit(context());
    subject.admit(context({ user: 'alice' }));

    await new Promise((resolve) => setTimeout(resolve, 120));

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'ddos.shed',
      outcome: 'would_block',
      details: { shed: 0, wouldShed: 1, priorities: { authenticated: 1 } },
    });
  });

  it('sheds every waiting request on close', async () => {
    const subject = shedder();
    subject.admit(context());
    const waiting = subject.admit(context());
    if (waiting.state !== 'queued') throw new Error('expected queued');

    subject.close();

    expect((await waiting.settled).state).toBe('shed');
  });

  it('takes a cancelled request out of the queue', () => {
    const subject = shedder();
    subject.admit(context());
    const waiting = subject.admit(context());
    if (waiting.state !== 'queued') throw new Error('expected queued');

    waiting.cancel();

    expect(subject.stats().queued).toBe(0);
  });
});
