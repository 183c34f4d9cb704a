import { describe, expect, it } from 'vitest';

import { createContext, type RequestContext } from '../../src/core/context.js';
import { CONTINUE, type Guard, type Respond } from '../../src/core/guard.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';

function context(): RequestContext {
  const ctx = createContext({
    id: 'req-1',
    correlationId: 'corr-1',
    method: 'OPTIONS',
    url: '/orders',
    headers: {},
    ip: '192.0.2.7',
    remoteAddress: '192.0.2.7',
    receivedAt: 0,
  });
  ctx.responseDefaults = { 'x-frame-options': 'DENY', vary: 'Accept' };
  ctx.responseHeaders.vary = 'Origin';
  return ctx;
}

const answer: Respond = { action: 'respond', status: 204, headers: { 'x-answer': 'yes' } };

function counting(name: string, verdict: () => ReturnType<Guard['check']>, reportOnly = false) {
  const guard = {
    name,
    reportOnly,
    calls: 0,
    check: () => {
      guard.calls += 1;
      return verdict();
    },
  };
  return guard;
}

describe('respond verdict', () => {
  it('stops the chain with headers merged', () => {
    const later = counting('later', () => CONTINUE);
    const events: SecurityEvent[] = [];
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    const pipeline = new Pipeline({ guards: [counting('cors', () => answer), later], bus });

    expect(pipeline.run(context())).toEqual({
      action: 'respond',
      status: 204,
      headers: { 'x-frame-options': 'DENY', vary: 'Origin', 'x-answer': 'yes' },
    });
    expect(later.calls).toBe(0);
    expect(events).toEqual([]);
  });

  it('report-only does not skip an answer', async () => {
    const pipeline = new Pipeline({
      guards: [counting('async', async () => CONTINUE), counting('cors', () => answer, true)],
      bus: new EventBus(),
      reportOnlyFor: () => true,
    });

    expect(await pipeline.run(context())).toMatchObject({ action: 'respond', status: 204 });
  });
});
