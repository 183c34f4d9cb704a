import { z } from 'zod';

import type { ApiKeyRecord } from '../auth/api-key-store.js';
import type { NewApiKey } from '../auth/api-key-store.js';
import type { ClientRecord, NewClient } from '../auth/client-store.js';
import { formatDuration, parseDuration } from '../core/duration.js';

/**
 * Input and output of credential management, shared by the admin API and the CLI: the
 * schemas that requests and flags are validated against, and the public views of stored
 * records, which never contain a hash.
 */

const DAY_MS = 86_400_000;

/** Rotation grace period when the request sets none: long enough to roll out a new key. */
export const DEFAULT_GRACE_MS = DAY_MS;
/** Maximum grace period, so a forgotten rotation does not keep an old key alive for months. */
export const MAX_GRACE_MS = 90 * DAY_MS;
/** Maximum lifetime a key can be given at creation. */
export const MAX_EXPIRY_MS = 3650 * DAY_MS;

// Names and owners are printed in tables and logs, so control characters, which could
// rewrite a terminal line, are rejected.
const label = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^\P{Cc}+$/u, 'must not contain control characters');

// RFC 6749 section 3.3: a scope token is printable ASCII without space, `"` or `\`.
const scope = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/,
    'must be 1 to 128 printable characters without space, " or \\',
  );

const scopes = z.array(scope).max(64, 'must list at most 64 scopes');

const plan = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, dots, dashes or underscores');

const env = z
  .string()
  .regex(/^[a-z0-9]{1,16}$/, 'must be 1 to 16 lower-case letters or digits, such as live or test');

/** Builds the schema of a duration such as `24h`: at most `max` ms, and 0 only if `allowZero`. */
function durationText(max: number, allowZero: boolean) {
  return z.string().transform((value, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a number and a unit (ms, s, m, h, d, w), e.g. 24h',
      });
      return z.NEVER;
    }
    if (ms > max || (ms === 0 && !allowZero)) {
      const min = allowZero ? '0s' : '1ms';
      ctx.addIssue({ code: 'custom', message: `must be from ${min} to ${formatDuration(max)}` });
      return z.NEVER;
    }
    return ms;
  });
}

const newApiKeySchema = z
  .object({
    name: label,
    owner: label,
    env: env.default('live'),
    scopes: scopes.default([]),
    plan: plan.optional(),
    /** Lifetime from now, e.g. `90d`. */
    expiresIn: durationText(MAX_EXPIRY_MS, false).optional(),
    /** Absolute expiry as an RFC 3339 time with offset, e.g. `2027-01-01T00:00:00Z`. */
    expiresAt: z.iso
      .datetime({ offset: true, error: 'must be an RFC 3339 time such as 2027-01-01T00:00:00Z' })
      .optional(),
  })
  .strict();

const newClientSchema = z
  .object({ name: label, owner: label, scopes: scopes.default([]), plan: plan.optional() })
  .strict();

const rotationSchema = z.object({ grace: durationText(MAX_GRACE_MS, true).optional() }).strict();

const listFilterSchema = z.object({ owner: label.optional() }).strict();

/** One problem with an input, named by its field (`expiresIn`, `scopes.1`). */
export interface InputIssue {
  field: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: InputIssue[] };

/** Validates a new key; the expiry must lie in the future of `now`. */
export function parseNewApiKey(raw: unknown, now: number): Parsed<NewApiKey> {
  const parsed = parseWith(newApiKeySchema, raw);
  if (!parsed.ok) return parsed;
  const { expiresIn, expiresAt, ...rest } = parsed.value;

  if (expiresIn !== undefined && expiresAt !== undefined)
    return invalid('expiresAt', 'set either expiresIn or expiresAt, not both');
  const input: NewApiKey = { ...rest };
  if (expiresIn !== undefined) input.expiresAt = now + expiresIn;
  if (expiresAt !== undefined) {
    const at = Date.parse(expiresAt);
    if (at <= now) return invalid('expiresAt', `${expiresAt} is in the past`);
    if (at - now > MAX_EXPIRY_MS)
      return invalid(
        'expiresAt',
        `${expiresAt} is more than ${formatDuration(MAX_EXPIRY_MS)} away`,
      );
    input.expiresAt = at;
  }
  return { ok: true, value: input };
}

export function parseNewClient(raw: unknown): Parsed<NewClient> {
  return parseWith(newClientSchema, raw);
}

/** Validates a rotation request and returns its grace period in milliseconds. */
export function parseRotation(
  raw: unknown,
  defaultGraceMs = DEFAULT_GRACE_MS,
): Parsed<{ graceMs: number }> {
  const parsed = parseWith(rotationSchema, raw);
  if (!parsed.ok) return parsed;
  return { ok: true, value: { graceMs: parsed.value.grace ?? defaultGraceMs } };
}

export function parseListFilter(raw: unknown): Parsed<{ owner?: string }> {
  return parseWith(listFilterSchema, raw);
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown): Parsed<T> {
  // The input is reported only to tell a missing field from a wrong one; it is never echoed.
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: result.error.issues.flatMap(toIssues) };
}

function toIssues(issue: z.core.$ZodIssue): InputIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'unknown field' }));
  const field = path.length === 0 ? '(body)' : path.join('.');
  if (issue.code === 'invalid_type') {
    const message = issue.input === undefined ? 'is required' : `expected ${issue.expected}`;
    return [{ field, message }];
  }
  return [{ field, message: issue.message }];
}

function invalid(field: string, message: string): { ok: false; issues: InputIssue[] } {
  return { ok: false, issues: [{ field, message }] };
}

/**
 * The status a person reading a listing needs: `expired` is an active key past its
 * expiry. A `rotated` key works until `expiresAt`, the end of its grace period.
 */
export type ApiKeyViewStatus = 'active' | 'expired' | 'rotated' | 'revoked';

/** An API key as the admin API and the CLI show it. */
export interface ApiKeyView {
  id: string;
  name: string;
  owner: string;
  env: string;
  scopes: string[];
  plan: string | null;
  status: ApiKeyViewStatus;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  replacedBy: string | null;
}

export interface ClientSecretView {
  id: string;
  createdAt: string;
  /** End of the overlap after a rotation; null while the secret is current. */
  expiresAt: string | null;
}

/** An OAuth client as the admin API and the CLI show it. */
export interface ClientView {
  id: string;
  name: string;
  owner: string;
  scopes: string[];
  plan: string | null;
  createdAt: string;
  secrets: ClientSecretView[];
}

export function apiKeyView(record: ApiKeyRecord, now: number): ApiKeyView {
  return {
    id: record.id,
    name: record.name,
    owner: record.owner,
    env: record.env,
    scopes: [...record.scopes],
    plan: record.plan ?? null,
    status: viewStatus(record, now),
    createdAt: isoTime(record.createdAt),
    expiresAt: optionalTime(record.expiresAt),
    lastUsedAt: optionalTime(record.lastUsedAt),
    replacedBy: record.replacedBy ?? null,
  };
}

/** Shows a client's secrets by id and dates; secrets that can no longer match are left out. */
export function clientView(record: ClientRecord, now: number): ClientView {
  return {
    id: record.id,
    name: record.name,
    owner: record.owner,
    scopes: [...record.scopes],
    plan: record.plan ?? null,
    createdAt: isoTime(record.createdAt),
    secrets: record.secrets
      .filter((secret) => secret.expiresAt === undefined || secret.expiresAt > now)
      .map((secret) => ({
        id: secret.id,
        createdAt: isoTime(secret.createdAt),
        expiresAt: optionalTime(secret.expiresAt),
      })),
  };
}

function viewStatus(record: ApiKeyRecord, now: number): ApiKeyViewStatus {
  if (record.status !== 'active') return record.status;
  return record.expiresAt !== undefined && now >= record.expiresAt ? 'expired' : 'active';
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

function optionalTime(ms: number | undefined): string | null {
  return ms === undefined ? null : isoTime(ms);
}
