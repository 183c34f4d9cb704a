import { createHash } from 'node:crypto';

import { z } from 'zod';

import { BulwarkError } from '../core/errors.js';
import { normalizeIp, parseIp } from '../core/ip.js';
import type { EventBus } from '../events/bus.js';
import {
  actorTypes,
  eventSeverities,
  type EventCategory,
  type EventSeverity,
  type SecurityEvent,
} from '../events/schema.js';

/**
 * Application events for the audit log: what only the application behind the gateway sees
 * (logins, MFA, permission checks, data access, configuration changes). They arrive through
 * `POST <admin prefix>/audit/events` or `recordAuditEvent`, are validated against a strict
 * schema, and are published on the event bus with `source.component` set to
 * `audit-ingest`, so that every consumer can tell them from events the gateway observed.
 */

/** Event types an application may send, with the category each belongs to. */
export const INGEST_EVENT_TYPES = {
  'auth.login': 'authentication',
  'auth.logout': 'authentication',
  'auth.mfa': 'authentication',
  'permission.check': 'authorization',
  'data.read': 'data_access',
  'data.write': 'data_access',
  'data.delete': 'data_access',
  'config.changed': 'configuration',
  'credential.accessed': 'credential',
  'admin.action': 'admin',
} as const satisfies Record<string, EventCategory>;

export type IngestEventType = keyof typeof INGEST_EVENT_TYPES;

/** `source.component` of every ingested event. */
export const INGEST_COMPONENT = 'audit-ingest';

/** Maximum number of events in one batch. */
export const MAX_INGEST_BATCH = 100;
const MAX_DETAIL_KEYS = 32;
const MAX_DETAIL_ARRAY = 32;
// The bus cuts longer strings, so a longer value is rejected rather than silently shortened.
const MAX_DETAIL_STRING = 256;
const MAX_ISSUES = 20;
const RESERVED_DETAIL_KEY = 'ingest';

/**
 * Characters that could forge or hide fields in a log line or a terminal: C0 controls (line
 * feed and carriage return included), DEL, C1 controls, the Unicode line and paragraph
 * separators, and bidirectional overrides, which reorder the text a reader sees.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_MESSAGE = 'contains a control character, line break or bidirectional override';

function text(max: number) {
  return z
    .string()
    .min(1, { message: 'must not be empty' })
    .max(max, { message: `must be at most ${max} characters` })
    .refine((value) => !UNSAFE_CHARACTER.test(value), { message: UNSAFE_MESSAGE })
    .refine((value) => !LONE_SURROGATE.test(value), {
      message: 'contains an unpaired UTF-16 surrogate',
    });
}

const identifier = (max: number) =>
  z.string().regex(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,${max - 1}}$`), {
    message: `must be 1 to ${max} letters, digits or . _ : / @ -`,
  });

const detailPrimitive = z.union([
  text(MAX_DETAIL_STRING),
  z.number().finite(),
  z.boolean(),
  z.null(),
]);

const detailsSchema = z
  .record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, {
      message: 'keys must be 1 to 64 letters, digits or _, starting with a letter',
    }),
    z.union([detailPrimitive, z.array(detailPrimitive).max(MAX_DETAIL_ARRAY)]),
  )
  .refine((value) => Object.keys(value).length <= MAX_DETAIL_KEYS, {
    message: `must have at most ${MAX_DETAIL_KEYS} keys`,
  })
  .refine((value) => !Object.hasOwn(value, RESERVED_DETAIL_KEY), {
    message: `the key "${RESERVED_DETAIL_KEY}" is reserved for ingest metadata`,
  });

const eventTypes = Object.keys(INGEST_EVENT_TYPES) as [IngestEventType, ...IngestEventType[]];

/** The schema of one application event. Unknown fields are rejected, not dropped. */
export const ingestEventSchema = z
  .object({
    type: z.enum(eventTypes),
    outcome: z.enum(['success', 'failure', 'blocked']),
    severity: z.enum(eventSeverities).optional(),
    /** Time the application observed the event. The bus stamps the time it was recorded. */
    occurredAt: z.iso.datetime({ offset: true }).optional(),
    /** Name of the sending application or service. */
    application: identifier(64).optional(),
    actor: z
      .object({
        type: z.enum(actorTypes),
        id: text(256).optional(),
        ip: z
          .string()
          .max(64)
          .refine((value) => parseIp(value) !== undefined, { message: 'must be an IP address' })
          .optional(),
        userAgent: text(512).optional(),
        sessionId: text(512).optional(),
      })
      .strict(),
    target: z
      .object({
        resourceType: identifier(64).optional(),
        resourceId: text(256).optional(),
        method: z
          .string()
          .regex(/^[A-Z]{1,16}$/, { message: 'must be an HTTP method in capitals' })
          .optional(),
        route: text(256).optional(),
        path: text(2048).optional(),
      })
      .strict()
      .optional(),
    correlationId: z
      .string()
      .regex(/^[\x21-\x7e]{1,128}$/, { message: 'must be 1 to 128 visible ASCII characters' })
      .optional(),
    details: detailsSchema.optional(),
  })
  .strict();

export type IngestEventInput = z.input<typeof ingestEventSchema>;

/** One problem with an event: the dotted field path and what is wrong, never the value. */
export interface IngestIssue {
  field: string;
  message: string;
}

/** Invalid application event input. Each entry of `issues` names an invalid field. */
export class AuditEventInvalidError extends BulwarkError {
  constructor(readonly issues: readonly IngestIssue[]) {
    const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    super('BWK_ERR_AUDIT_EVENT_INVALID', `Invalid audit event: ${summary}.`);
  }
}

export interface IngestContext {
  /** Transport of the event: `http` for the ingest endpoint, `library` for `recordAuditEvent`. */
  via: 'http' | 'library';
  /** The ingest request's id, for events that arrived over HTTP. */
  requestId?: string;
  /** Address of the HTTP client that sent the events. */
  senderIp?: string;
}

export type ParsedEvents =
  { ok: true; events: z.output<typeof ingestEventSchema>[] } | { ok: false; issues: IngestIssue[] };

/**
 * Validates a request body: one event object, or `{ "events": [...] }` with 1 to
 * `MAX_INGEST_BATCH` events. Any invalid event rejects the whole batch, so a client never
 * has to work out which of its events were recorded.
 */
export function parseIngestBody(body: unknown): ParsedEvents {
  const isBatch = typeof body === 'object' && body !== null && Object.hasOwn(body, 'events');
  if (!isBatch) {
    const result = ingestEventSchema.safeParse(body, { reportInput: true });
    return result.success
      ? { ok: true, events: [result.data] }
      : { ok: false, issues: issuesOf(result.error, '') };
  }

  const batch = body as Record<string, unknown>;
  const issues: IngestIssue[] = [];
  for (const key of Object.keys(batch)) {
    if (key !== 'events') issues.push({ field: fieldName(key), message: 'unknown field' });
  }
  const events = batch.events;
  if (!Array.isArray(events) || events.length === 0)
    return {
      ok: false,
      issues: [...issues, { field: 'events', message: 'must be a non-empty array' }],
    };
  if (events.length > MAX_INGEST_BATCH)
    return {
      ok: false,
      issues: [
        ...issues,
        { field: 'events', message: `must have at most ${MAX_INGEST_BATCH} events` },
      ],
    };

  const parsed: z.output<typeof ingestEventSchema>[] = [];
  for (const [index, event] of events.entries()) {
    const result = ingestEventSchema.safeParse(event, { reportInput: true });
    if (result.success) parsed.push(result.data);
    else issues.push(...issuesOf(result.error, `events[${index}]`));
    if (issues.length >= MAX_ISSUES) break;
  }
  return issues.length === 0
    ? { ok: true, events: parsed }
    : { ok: false, issues: issues.slice(0, MAX_ISSUES) };
}

/**
 * Publishes a validated event on the bus as `audit-ingest`. The session id is stored as a
 * SHA-256 digest, because readers of the log could take over a session with its id. The
 * digest still links the events of one session.
 */
export function publishIngestedEvent(
  bus: EventBus,
  event: z.output<typeof ingestEventSchema>,
  context: IngestContext,
): SecurityEvent {
  const actor: SecurityEvent['actor'] = { type: event.actor.type };
  if (event.actor.id !== undefined) actor.id = event.actor.id;
  if (event.actor.ip !== undefined) actor.ip = normalizeIp(event.actor.ip);
  if (event.actor.userAgent !== undefined) actor.userAgent = event.actor.userAgent;
  if (event.actor.sessionId !== undefined) actor.sessionId = sessionDigest(event.actor.sessionId);

  const ingest: Record<string, unknown> = { via: context.via };
  if (event.application !== undefined) ingest.application = event.application;
  if (event.occurredAt !== undefined) ingest.occurredAt = event.occurredAt;
  if (context.requestId !== undefined) ingest.requestId = context.requestId;
  if (context.senderIp !== undefined) ingest.senderIp = context.senderIp;

  return bus.publish({
    type: event.type,
    category: INGEST_EVENT_TYPES[event.type],
    severity: event.severity ?? defaultSeverity(event.outcome),
    outcome: event.outcome,
    actor,
    target: event.target ?? {},
    correlationId: event.correlationId,
    component: INGEST_COMPONENT,
    details: { ...event.details, [RESERVED_DETAIL_KEY]: ingest },
  });
}

/**
 * Validates one application event and publishes it on the bus, for applications that use
 * Bulwark as a library. Returns the published event. Throws `AuditEventInvalidError` naming
 * each invalid field.
 */
export function recordAuditEvent(bus: EventBus, input: IngestEventInput): SecurityEvent {
  const result = ingestEventSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new AuditEventInvalidError(issuesOf(result.error, ''));
  return publishIngestedEvent(bus, result.data, { via: 'library' });
}

function defaultSeverity(outcome: 'success' | 'failure' | 'blocked'): EventSeverity {
  return outcome === 'success' ? 'info' : 'low';
}

function sessionDigest(sessionId: string): string {
  return `sha256:${createHash('sha256').update(sessionId).digest('hex').slice(0, 32)}`;
}

/** Converts zod issues to field paths and messages that never quote the input value. */
function issuesOf(error: z.ZodError, base: string): IngestIssue[] {
  const issues: IngestIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        issues.push({ field: joinPath(base, [...issue.path, key]), message: 'unknown field' });
      continue;
    }
    const path = joinPath(base, issue.path);
    // `reportInput` adds the input to each issue. The input is only compared here, never quoted.
    const missing = 'input' in issue && issue.input === undefined;
    issues.push({ field: path, message: missing ? 'is required' : messageOf(issue) });
  }
  return issues.slice(0, MAX_ISSUES);
}

function messageOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => String(value)).join(', ')}`;
    case 'invalid_union':
      return 'must be a string, number, boolean, null or an array of those';
    case 'too_big':
      return issue.origin === 'array'
        ? `must have at most ${String(issue.maximum)} items`
        : issue.message;
    case 'invalid_format':
      return issue.format === 'datetime'
        ? 'must be an RFC 3339 date-time, e.g. 2026-12-05T10:00:00Z'
        : issue.message;
    case 'invalid_key':
      return 'has an invalid key; keys must be 1 to 64 letters, digits or _, starting with a letter';
    default:
      return issue.message;
  }
}

function joinPath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? fieldName(String(part)) : `.${fieldName(String(part))}`;
  }
  return out === '' ? '(body)' : out;
}

/** Escapes and shortens a field name from the input, so that it cannot forge a message. */
function fieldName(key: string): string {
  const short = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return /^[A-Za-z0-9_]+$/.test(short) ? short : JSON.stringify(short);
}
