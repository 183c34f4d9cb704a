import { describe, expect, it } from 'vitest';

import { createContext, type RequestContext } from '../../src/core/context.js';
import { CONTINUE, type Guard, type Reject } from '../../src/core/guard.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { problem } from '../../src/core/problem.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';

function context(): RequestContext {
  return createContext({
    id: 'req-1',
    correlationId: 'corr-1',
    method: 'GET',
    url: '/orders?page=2',
    headers: { 'user-agent': 'test' },
    ip: '192.0.2.7',
    remoteAddress: '192.0.2.7',
    receivedAt: 0,
  });
}

const rejection: Reject = {
  action: 'reject',
  status: 403,
  headers: { 'x-reason': 'test' },
  problem: problem('test', 403, 'Forbidden', 'BWK_ERR_TEST'),
  event: { type: 'test.rejected', category: 'violation', severity: 'low' },
};

function guard(
  name: string,
  verdict: () => ReturnType<Guard['check']>,
  reportOnly = false,
): Guard & { calls: number } {
  const g = {
    name,
    reportOnly,
    calls: 0,
    check: () => {
      g.calls += 1;
      return verdict();
    },
  };
  return g;
}

function collect(bus: EventBus): SecurityEvent[] {
  const events: SecurityEvent[] = [];
  bus.subscribe((event) => events.push(event));
  return events;
}

describe('pipeline', () => {
  it('answers synchronously when guards are synchronous', () => {
    const pipeline = new Pipeline({ guards: [guard('a', () => CONTINUE)], bus: new EventBus() });
    const decision = pipeline.run(context());
    expect(decision).toEqual({ action: 'continue', headers: {} });
  });

  it('stops at the first rejection', () => {
    const later = guard('later', () => CONTINUE);
    const bus = new EventBus();
    const events = collect(bus);
    const pipeline = new Pipeline({ guards: [guard('first', () => rejection), later], bus });
    const decision = pipeline.run(context());
    expect(decision).toMatchObject({
      action: 'reject',
      status: 403,
      headers: { 'x-reason': 'test' },
    });
    expect(later.calls).toBe(0);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'test.rejected',
      outcome: 'blocked',
      correlationId: 'corr-1',
      actor: { type: 'anonymous', ip: '192.0.2.7', userAgent: 'test' },
      target: { method: 'GET', path: '/orders' },
      source: { component: 'first' },
    });
  });

  it('report-only guard records would_block and continues', () => {
    const later = guard('later', () => CONTINUE);
    const bus = new EventBus();
    const events = collect(bus);
    const pipeline = new Pipeline({ guards: [guard('first', () => rejection, true), later], bus });
    expect(pipeline.run(context())).toMatchObject({ action: 'continue' });
    expect(later.calls).toBe(1);
    expect(events[0]!.outcome).toBe('would_block');
  });

  it('report-only route lets every guard pass', () => {
    const bus = new EventBus();
    const events = collect(bus);
    const pipeline = new Pipeline({
      guards: [guard('first', () => rejection)],
      bus,
      reportOnlyFor: () => true,
    });
    expect(pipeline.run(context())).toMatchObject({ action: 'continue' });
    expect(events[0]!.outcome).toBe('would_block');
  });

  it('continues after an asynchronous guard', async () => {
    const later = guard('later', () => rejection);
    const pipeline = new Pipeline({
      guards: [guard('async', () => Promise.resolve(CONTINUE)), later],
      bus: new EventBus(),
    });
    const decision = pipeline.run(context());
    expect(decision).toBeInstanceOf(Promise);
    expect(await decision).toMatchObject({ action: 'reject', status: 403 });
    expect(later.calls).toBe(1);
  });

  it('turns a throwing guard into a 500 problem', async () => {
    const pipeline = new Pipeline({
      guards: [
        guard('broken', () => {
          throw new Error('boom');
        }),
      ],
      bus: new EventBus(),
    });
    expect(pipeline.run(context())).toMatchObject({
      action: 'reject',
      status: 500,
      body: { code: 'BWK_ERR_GUARD_FAILED' },
    });
    const rejecting = new Pipeline({
      guards: [guard('async', () => Promise.reject(new Error('down')))],
      bus: new EventBus(),
    });
    expect(await rejecting.run(context())).toMatchObject({ action: 'reject', status: 500 });
  });

  it('reports each guard duration', () => {
    const timed: string[] = [];
    const pipeline = new Pipeline({
      guards: [guard('a', () => CONTINUE), guard('b', () => CONTINUE)],
      bus: new EventBus(),
      observer: { guardTimed: (name, seconds) => seconds >= 0 && timed.push(name) },
    });
    pipeline.run(context());
    expect(timed).toEqual(['a', 'b']);
  });
});

describe('auth.success events', () => {
  const authenticate = (ctx: RequestContext): ReturnType<Guard['check']> => {
    ctx.principal = { type: 'api_key', id: 'key123', scopes: ['orders:read'] };
    return CONTINUE;
  };

  it('are published for an admitted request with a principal', async () => {
    const bus = new EventBus();
    const events = collect(bus);
    const pipeline = new Pipeline({
      guards: [{ name: 'auth', check: authenticate }],
      bus,
      successEvents: true,
    });

    pipeline.run(context());
    await bus.close();

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'auth.success',
      category: 'authentication',
      outcome: 'success',
      actor: { type: 'api_key', id: 'key123', ip: '192.0.2.7' },
      target: { method: 'GET', path: '/orders' },
      correlationId: 'corr-1',
    });
  });

  it('are not published for rejected or anonymous requests', async () => {
    const bus = new EventBus();
    const events = collect(bus);
    const rejected = new Pipeline({
      guards: [{ name: 'auth', check: authenticate }, guard('deny', () => rejection)],
      bus,
      successEvents: true,
    });
    const anonymous = new Pipeline({
      guards: [guard('a', () => CONTINUE)],
      bus,
      successEvents: true,
    });

    rejected.run(context());
    anonymous.run(context());
    await bus.close();

    expect(events.map((event) => event.type)).toEqual(['test.rejected']);
  });
});
