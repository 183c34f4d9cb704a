import { z } from 'zod';

import { formatDuration, parseDuration } from '../core/duration.js';
import { canonicalSubject, type Ban } from '../ddos/bans.js';
import type { InputIssue, Parsed } from './credential-input.js';

/**
 * Input and output of ban management, shared by the admin API and `bulwark bans`: the
 * validation of a new ban and the public view of a ban.
 */

/** Maximum length of a manual ban. A permanent block belongs in `ipLists.deny`, where it is reviewed. */
export const MAX_BAN_MS = 365 * 86_400_000;

const MAX_REASON_LENGTH = 200;

const address = z.string().transform((value, ctx) => {
  try {
    return canonicalSubject(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an IP address or CIDR, such as 203.0.113.7 or 2001:db8::/64',
    });
    return z.NEVER;
  }
});

const duration = z.string().transform((value, ctx) => {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a number and a unit, e.g. 1h or 7d' });
    return z.NEVER;
  }
  if (ms <= 0 || ms > MAX_BAN_MS) {
    ctx.addIssue({ code: 'custom', message: `must be from 1s to ${formatDuration(MAX_BAN_MS)}` });
    return z.NEVER;
  }
  return ms;
});

// Reasons are printed in tables and logs, so control characters are rejected.
const reason = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_REASON_LENGTH, `must be at most ${MAX_REASON_LENGTH} characters`)
  .regex(/^\P{Cc}+$/u, 'must not contain control characters');

const newBanSchema = z
  .object({ address, duration: duration.optional(), reason: reason.optional() })
  .strict();

export interface NewBan {
  /** Canonical `network/bits`. */
  subject: string;
  durationMs?: number;
  reason?: string;
}

/** Validates a new ban: `address` (IP or CIDR), optional `duration` and `reason`. */
export function parseNewBan(raw: unknown): Parsed<NewBan> {
  const result = newBanSchema.safeParse(raw, { reportInput: true });
  if (!result.success) return { ok: false, issues: result.error.issues.flatMap(toIssues) };
  const { address: subject, duration: durationMs, reason: text } = result.data;
  return { ok: true, value: { subject, durationMs, reason: text } };
}

/** Validates the address or CIDR that names a ban, returning its canonical form. */
export function parseBanSubject(text: string): Parsed<string> {
  const result = address.safeParse(text);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: [{ field: 'address', message: result.error.issues[0]!.message }] };
}

function toIssues(issue: z.core.$ZodIssue): InputIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'unknown field' }));
  const field = path.length === 0 ? '(body)' : path.join('.');
  if (issue.code === 'invalid_type') {
    return [
      { field, message: issue.input === undefined ? 'is required' : `expected ${issue.expected}` },
    ];
  }
  return [{ field, message: issue.message }];
}

/** A ban as the admin API and the CLI show it, with RFC 3339 times. */
export interface BanView {
  subject: string;
  reason: string;
  source: 'auto' | 'manual';
  level: number;
  createdAt: string;
  expiresAt: string;
}

export function banView(ban: Ban): BanView {
  return {
    subject: ban.subject,
    reason: ban.reason,
    source: ban.source,
    level: ban.level,
    createdAt: new Date(ban.createdAt).toISOString(),
    expiresAt: new Date(ban.expiresAt).toISOString(),
  };
}
