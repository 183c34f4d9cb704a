import { afterEach, describe, expect, it } from 'vitest';

import type { Reject } from '../../../src/core/guard.js';
import { silentLogger } from '../../../src/core/logger.js';
import { EventBus } from '../../../src/events/bus.js';
import type { SecurityEvent } from '../../../src/events/schema.js';
import type { WafPolicy } from '../../../src/validation/waf/config.js';
import { scanRequest, WafGuard } from '../../../src/validation/waf/guard.js';
import { FakeInspector, requestContext, wafPolicy } from './guard-helpers.js';

const jsonHeaders = { 'content-type': 'application/json' };

function jsonRequest(body: unknown, url = '/comments') {
  return requestContext(url, { method: 'POST', headers: jsonHeaders, body: JSON.stringify(body) });
}

describe('waf scan', () => {
  it('rule counts once per field', () => {
    const inspector = new FakeInspector();
    const ctx = jsonRequest({ text: "' OR 1=1 and ' OR 1=1", other: "' OR 1=1" });
    const report = scanRequest(ctx, wafPolicy({ inspect: { path: false } }), inspector);
    expect(report.score).toBe(10);
    expect(report.findings).toEqual([
      { family: 'sqli', field: 'body.text', score: 5, rules: ['sqli-901-test'] },
      { family: 'sqli', field: 'body.other', score: 5, rules: ['sqli-901-test'] },
    ]);
  });

  it('key and value hits share one field', () => {
    const ctx = jsonRequest({ "' OR 1=1": "' OR 1=1" });
    const report = scanRequest(ctx, wafPolicy({ inspect: { path: false } }), new FakeInspector());
    expect(report.findings).toEqual([
      { family: 'sqli', field: 'body[<key>]', score: 5, rules: ['sqli-901-test'] },
    ]);
  });

  it('families of one field are separate findings', () => {
    const ctx = jsonRequest({ text: "<script> ' OR 1=1" });
    const report = scanRequest(ctx, wafPolicy({ inspect: { path: false } }), new FakeInspector());
    expect(report.findings.map((finding) => finding.family)).toEqual(['sqli', 'xss']);
    expect(report.score).toBe(10);
  });

  it('field exclusion skips the field and its children', () => {
    const inspector = new FakeInspector();
    const ctx = jsonRequest({ profile: { bio: '<script>' }, note: '<script>' });
    const policy = wafPolicy({ inspect: { path: false }, exclusions: [{ field: 'body.profile' }] });
    const report = scanRequest(ctx, policy, inspector);
    expect(report.findings.map((finding) => finding.field)).toEqual(['body.note']);
    // The excluded field's value never reaches the engine.
    expect(inspector.sinks.filter((call) => call.value === '<script>')).toHaveLength(1);
  });

  it.each([['xss'], ['xss-901'], ['xss-901-test']])('rule exclusion by %s', (rule) => {
    const ctx = jsonRequest({ items: [{ note: "<script> ' OR 1=1" }] });
    const policy = wafPolicy({
      inspect: { path: false },
      exclusions: [{ field: 'body.items[*].note', rules: [rule] }],
    });
    const report = scanRequest(ctx, policy, new FakeInspector());
    expect(report.findings.map((finding) => finding.family)).toEqual(['sqli']);
  });

  it('sink tag only on tagged field', () => {
    const inspector = new FakeInspector();
    const ctx = jsonRequest({ filter: 'uid=ann', name: 'ann' });
    const policy = wafPolicy({ inspect: { path: false }, sinks: { 'body.filter': 'ldap' } });
    scanRequest(ctx, policy, inspector);
    expect(inspector.sinks).toEqual([
      { value: 'uid=ann', sink: 'ldap' },
      { value: 'ann', sink: undefined },
    ]);
  });
});

describe('waf guard', () => {
  const events: SecurityEvent[] = [];
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  afterEach(() => {
    events.length = 0;
  });

  function guard(policy: WafPolicy): WafGuard {
    return new WafGuard({
      fallback: policy,
      inspector: new FakeInspector(),
      bus,
      logger: silentLogger,
    });
  }

  it('score at threshold rejects with 403', () => {
    const verdict = guard(wafPolicy()).check(jsonRequest({ q: "' OR 1=1" })) as Reject;
    expect(verdict.action).toBe('reject');
    expect(verdict.status).toBe(403);
    expect(verdict.problem.code).toBe('BWK_ERR_INJECTION_DETECTED');
    expect(verdict.problem.type).toBe('urn:bulwark:problem:injection-detected');
    expect(JSON.stringify(verdict.problem)).not.toContain('OR 1=1');
    expect(verdict.event.type).toBe('injection.detected');
    expect(verdict.event.details).toMatchObject({
      family: 'sqli',
      field: 'body.q',
      score: 5,
      rules: ['sqli-901-test'],
    });
    expect(JSON.stringify(verdict.event)).not.toContain('OR 1=1');
    // The pipeline publishes the event of a rejection, so the guard published nothing.
    expect(events).toHaveLength(0);
  });

  it('score below threshold continues with an event', () => {
    const verdict = guard(wafPolicy()).check(jsonRequest({ q: 'suspicious' }));
    expect(verdict.action).toBe('continue');
    expect(events).toHaveLength(1);
    expect(events[0]!.outcome).toBe('detected');
    expect(events[0]!.details).toMatchObject({ score: 3, threshold: 5, field: 'body.q' });
  });

  it('report mode continues with would_block', () => {
    const verdict = guard(wafPolicy({ mode: 'report' })).check(jsonRequest({ q: '<script>' }));
    expect(verdict.action).toBe('continue');
    expect(events.map((event) => event.outcome)).toEqual(['would_block']);
    expect(events[0]!.source.component).toBe('waf');
  });

  it('clean request publishes nothing', () => {
    expect(guard(wafPolicy()).check(jsonRequest({ q: 'shoes' })).action).toBe('continue');
    expect(events).toHaveLength(0);
  });

  it('guard off on the route skips inspection', () => {
    const ctx = jsonRequest({ q: "' OR 1=1" });
    ctx.route = {
      id: 'POST /comments',
      params: {},
      policy: { waf: wafPolicy({ enabled: false }) },
    };
    expect(guard(wafPolicy()).check(ctx).action).toBe('continue');
  });

  it('path attack omitted from event', () => {
    const ctx = requestContext("/search/' OR 1=1", { headers: { 'user-agent': '<script>' } });
    const verdict = guard(wafPolicy()).check(ctx) as Reject;
    expect(verdict.action).toBe('reject');
    expect(verdict.event.target?.path).toBeUndefined();
    expect(verdict.event.actor?.userAgent).toBeUndefined();
    expect(JSON.stringify(verdict.event)).not.toContain('OR 1=1');
    expect(JSON.stringify(verdict.event)).not.toContain('<script>');
  });
});
