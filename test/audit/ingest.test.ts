import { describe, expect, it } from 'vitest';

import {
  AuditEventInvalidError,
  INGEST_COMPONENT,
  INGEST_EVENT_TYPES,
  MAX_INGEST_BATCH,
  parseIngestBody,
  recordAuditEvent,
  type IngestEventInput,
  type IngestIssue,
} from '../../src/audit/ingest.js';
import { EventBus } from '../../src/events/bus.js';
import { securityEventSchema, type SecurityEvent } from '../../src/events/schema.js';

const login: IngestEventInput = {
  type: 'auth.login',
  outcome: 'failure',
  application: 'billing',
  occurredAt: '2026-12-05T00:10:00.123Z',
  actor: { type: 'user', id: 'ada', ip: '203.0.113.7', sessionId: 'sess-abc' },
  target: { resourceType: 'session', method: 'POST', path: '/login' },
  correlationId: 'req-42',
  details: { method: 'password', attempts: 3, mfaRequired: true, factors: ['totp', 'sms'] },
};

function issuesOf(input: unknown): IngestIssue[] {
  const parsed = parseIngestBody(input);
  if (parsed.ok) throw new Error('the input was accepted');
  return parsed.issues;
}

function fields(input: unknown): string[] {
  return issuesOf(input).map((issue) => issue.field);
}

describe('recordAuditEvent', () => {
  it('publishes a valid event marked as ingested', () => {
    const bus = new EventBus({ instance: 'test' });
    const seen: SecurityEvent[] = [];
    bus.subscribe((event) => seen.push(event));

    const event = recordAuditEvent(bus, login);

    expect(seen).toEqual([event]);
    expect(securityEventSchema.safeParse(event).success).toBe(true);
    expect(event.source).toEqual({ component: INGEST_COMPONENT, instance: 'test' });
    expect(event.category).toBe('authentication');
    expect(event.severity).toBe('low');
    expect(event.correlationId).toBe('req-42');
    expect(event.details).toMatchObject({
      method: 'password',
      attempts: 3,
      factors: ['totp', 'sms'],
      ingest: { via: 'library', application: 'billing', occurredAt: '2026-12-05T00:10:00.123Z' },
    });
  });

  it('stores the session id as a digest', () => {
    const event = recordAuditEvent(new EventBus(), login);

    expect(event.actor.sessionId).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(JSON.stringify(event)).not.toContain('sess-abc');
  });

  it('maps every accepted type to its category', () => {
    const bus = new EventBus();
    for (const [type, category] of Object.entries(INGEST_EVENT_TYPES)) {
      const event = recordAuditEvent(bus, {
        type: type as IngestEventInput['type'],
        outcome: 'success',
        actor: { type: 'system' },
      });
      expect(event.category, type).toBe(category);
      expect(event.severity, type).toBe('info');
    }
  });

  it('invalid input raises naming the field', () => {
    const bus = new EventBus();
    const seen: SecurityEvent[] = [];
    bus.subscribe((event) => seen.push(event));

    let error: unknown;
    try {
      recordAuditEvent(bus, { ...login, actor: { type: 'user', id: 'ada\nadmin' } });
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(AuditEventInvalidError);
    expect((error as AuditEventInvalidError).code).toBe('BWK_ERR_AUDIT_EVENT_INVALID');
    expect((error as AuditEventInvalidError).issues[0]?.field).toBe('actor.id');
    expect((error as AuditEventInvalidError).message).not.toContain('admin');
    expect(seen).toEqual([]);
  });

  it('events reach bus sinks', async () => {
    const bus = new EventBus();
    const written: SecurityEvent[] = [];
    bus.addSink({ name: 'memory', write: async (events) => void written.push(...events) });

    recordAuditEvent(bus, login);
    recordAuditEvent(bus, {
      type: 'data.delete',
      outcome: 'success',
      actor: { type: 'user', id: 'ada' },
    });
    await bus.flush();

    expect(written.map((event) => event.type)).toEqual(['auth.login', 'data.delete']);
  });
});

describe('parseIngestBody schema', () => {
  it('accepts a single event and a batch', () => {
    const single = parseIngestBody(login);
    const batch = parseIngestBody({ events: [login, { ...login, type: 'auth.logout' }] });

    expect(single.ok).toBe(true);
    expect(batch.ok).toBe(true);
    if (!single.ok || !batch.ok) return;
    expect(single.events).toHaveLength(1);
    expect(batch.events.map((event) => event.type)).toEqual(['auth.login', 'auth.logout']);
  });

  it('rejects unknown types, outcomes and fields', () => {
    expect(fields({ ...login, type: 'auth.failure' })).toEqual(['type']);
    expect(fields({ ...login, outcome: 'detected' })).toEqual(['outcome']);
    expect(fields({ ...login, category: 'admin' })).toEqual(['category']);
    expect(fields({ ...login, actor: { type: 'user', role: 'x' } })).toEqual(['actor.role']);
    expect(fields({ ...login, source: { component: 'gateway' } })).toEqual(['source']);
  });

  it('requires type, outcome and actor', () => {
    const issues = issuesOf({});

    expect(issues.map((issue) => issue.field).sort()).toEqual(['actor', 'outcome', 'type']);
    expect(issues.every((issue) => issue.message === 'is required')).toBe(true);
  });

  it('checks formats of ip, time, method and ids', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ actor: { type: 'user', ip: 'not-an-ip' } }, 'actor.ip'],
      [{ occurredAt: 'yesterday' }, 'occurredAt'],
      [{ target: { method: 'post' } }, 'target.method'],
      [{ application: 'bad name' }, 'application'],
      [{ correlationId: 'has space' }, 'correlationId'],
      [{ severity: 'urgent' }, 'severity'],
      [{ actor: { type: 'user', id: '' } }, 'actor.id'],
      [{ actor: { type: 'user', id: 'x'.repeat(257) } }, 'actor.id'],
    ];
    for (const [change, field] of cases) {
      expect(fields({ ...login, ...change }), field).toEqual([field]);
    }
  });

  it('limits details keys, values and nesting', () => {
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    const cases: [unknown, string][] = [
      [many, 'details'],
      [{ nested: { a: 1 } }, 'details.nested'],
      [{ long: 'x'.repeat(257) }, 'details.long'],
      [{ list: Array.from({ length: 33 }, () => 1) }, 'details.list'],
      [{ ingest: 'forged' }, 'details'],
      [{ 'bad key': 1 }, 'details."bad key"'],
    ];
    for (const [details, field] of cases) {
      expect(fields({ ...login, details }), field).toContain(field);
    }
  });

  it('__proto__ keys never reach the prototype', () => {
    const parsed = parseIngestBody(
      JSON.parse(
        '{"type":"auth.login","outcome":"success","actor":{"type":"user"},"details":{"__proto__":{"admin":true}}}',
      ),
    );

    expect(parsed.ok).toBe(true);
    const details = parsed.ok ? parsed.events[0]?.details : undefined;
    expect(Object.getPrototypeOf(details)).toBe(Object.prototype);
    expect((details as Record<string, unknown>).admin).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('bounds the batch size', () => {
    const events = Array.from({ length: MAX_INGEST_BATCH + 1 }, () => login);

    expect(fields({ events })).toEqual(['events']);
    expect(fields({ events: [] })).toEqual(['events']);
    expect(parseIngestBody({ events: events.slice(1) }).ok).toBe(true);
  });

  it('one invalid event rejects the batch with its index', () => {
    const issues = issuesOf({ events: [login, { ...login, type: 'nope' }], extra: 1 });

    expect(issues.map((issue) => issue.field)).toEqual(['extra', 'events[1].type']);
  });
});

describe('control characters', () => {
  // Each value would forge or hide a field in a log line or a terminal if stored as is.
  const forgeries: [string, string][] = [
    ['line feed', 'ada\n{"type":"auth.login","outcome":"success"}'],
    ['carriage return', 'ada\r2026-12-05 admin logged in'],
    ['NUL', 'ada\u0000root'],
    ['escape sequence', 'ada\u001b[2Jroot'],
    ['DEL', 'ada\u007f'],
    ['C1 next line', 'ada\u0085root'],
    ['line separator', 'ada\u2028root'],
    ['paragraph separator', 'ada\u2029root'],
    ['right-to-left override', 'ada\u202eroot'],
    ['isolate', 'ada\u2066root'],
    ['lone surrogate', 'ada\ud800'],
  ];

  for (const [name, value] of forgeries) {
    it(`${name} is rejected in every text field`, () => {
      const placements: [Record<string, unknown>, string][] = [
        [{ actor: { type: 'user', id: value } }, 'actor.id'],
        [{ actor: { type: 'user', userAgent: value } }, 'actor.userAgent'],
        [{ target: { resourceId: value } }, 'target.resourceId'],
        [{ target: { path: value } }, 'target.path'],
        [{ details: { note: value } }, 'details.note'],
        [{ details: { list: ['ok', value] } }, 'details.list'],
      ];
      for (const [change, field] of placements) {
        const issues = issuesOf({ ...login, ...change });
        expect(
          issues.some((issue) => issue.field.startsWith(field)),
          `${field}: ${JSON.stringify(issues)}`,
        ).toBe(true);
        expect(JSON.stringify(issues)).not.toContain('root');
      }
    });
  }

  it('field names with control characters are escaped', () => {
    const issues = issuesOf({ ...login, 'evil\nfield': 1 });

    expect(issues[0]?.field).toBe('"evil\\nfield"');
    expect(issues[0]?.field).not.toContain('\n');
  });

  it('accepts printable unicode text', () => {
    const parsed = parseIngestBody({ ...login, actor: { type: 'user', id: 'Zoë 🛡️ 山田' } });

    expect(parsed.ok).toBe(true);
  });
});
