import { BulwarkError, StoreUnavailableError } from '../core/errors.js';
import { problem, type Problem } from '../core/problem.js';
import { BanAllowlistedError, type BanManager } from '../ddos/ban-service.js';
import {
  AdminInputError,
  type AdminRouteBase,
  type HandlerInput,
  type HandlerResult,
} from './admin-routes.js';
import { banView, parseBanSubject, parseNewBan } from './ban-input.js';
import type { Parsed } from './credential-input.js';

/**
 * The admin API's ban endpoints under `<prefix>/admin/bans`. A ban is named by its address
 * or CIDR; in a path the `/` of a CIDR is written `%2F`, e.g. `DELETE .../bans/2001:db8::%2F64`.
 */

/** An endpoint that acts on the bans rather than on credentials. */
export interface BanRoute extends AdminRouteBase {
  service: 'bans';
  handle: (bans: BanManager, input: HandlerInput) => Promise<HandlerResult>;
}

export class BanNotFoundError extends BulwarkError {
  constructor(readonly subject: string) {
    super('BWK_ERR_BAN_NOT_FOUND', `${subject} is not banned`);
  }
}

function valueOf<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new AdminInputError(parsed.issues);
  return parsed.value;
}

/** Decodes the percent-encoded `:id` path segment into a canonical subject. */
function subjectOf(id: string): string {
  let text: string;
  try {
    text = decodeURIComponent(id);
  } catch {
    throw new AdminInputError([{ field: 'address', message: 'is not valid percent-encoding' }]);
  }
  return valueOf(parseBanSubject(text));
}

export const banRoutes: readonly BanRoute[] = [
  {
    service: 'bans',
    method: 'GET',
    pattern: '/bans',
    action: 'bans.list',
    resourceType: 'ip_ban',
    query: [],
    body: false,
    async handle(bans) {
      const list = await bans.list();
      return { status: 200, body: { bans: list.map(banView) } };
    },
  },
  {
    service: 'bans',
    method: 'POST',
    pattern: '/bans',
    action: 'bans.add',
    resourceType: 'ip_ban',
    query: [],
    body: true,
    async handle(bans, input) {
      const { subject, durationMs, reason } = valueOf(parseNewBan(input.body));
      const ban = await bans.add(subject, durationMs, reason);
      return {
        status: 201,
        body: banView(ban),
        headers: { location: `${input.collectionPath}/${encodeURIComponent(subject)}` },
        event: {
          type: 'ban.applied',
          category: 'admin',
          resourceType: 'ip_ban',
          resourceId: subject,
          details: {
            subject,
            reason: ban.reason,
            source: 'manual',
            durationMs: ban.expiresAt - ban.createdAt,
            expiresAt: new Date(ban.expiresAt).toISOString(),
          },
        },
      };
    },
  },
  {
    service: 'bans',
    method: 'DELETE',
    pattern: '/bans/:id',
    action: 'bans.remove',
    resourceType: 'ip_ban',
    query: [],
    body: false,
    async handle(bans, input) {
      const subject = subjectOf(input.id);
      const ban = await bans.remove(subject);
      if (ban === undefined) throw new BanNotFoundError(subject);
      return {
        status: 204,
        event: {
          type: 'ban.removed',
          category: 'admin',
          resourceType: 'ip_ban',
          resourceId: subject,
          details: { subject, reason: ban.reason, source: ban.source },
        },
      };
    },
  },
];

/** Maps the failures of ban handlers to their responses; undefined for any other error. */
export function banRejectionFor(error: unknown): { problem: Problem; reason: string } | undefined {
  if (error instanceof BanNotFoundError) {
    return {
      problem: problem('ban-not-found', 404, 'Not Found', error.code, {
        detail: `${error.subject} is not banned.`,
      }),
      reason: 'unknown_id',
    };
  }
  if (error instanceof BanAllowlistedError) {
    return {
      problem: problem('ban-allowlisted', 409, 'Conflict', error.code, {
        detail: `${error.subject} is on the allowlist (ipLists.allow), which always wins, so the ban would never apply.`,
      }),
      reason: 'conflict',
    };
  }
  if (error instanceof StoreUnavailableError) {
    return {
      problem: problem('store-unavailable', 503, 'Service Unavailable', error.code, {
        detail: 'The shared ban store (Redis) did not answer; retry shortly.',
      }),
      reason: 'store_unavailable',
    };
  }
  return undefined;
}

/** Returns the 404 problem of a ban endpoint while the policy has no `bans` section. */
export function bansDisabledProblem(): Problem {
  return problem('bans-disabled', 404, 'Not Found', 'BWK_ERR_BANS_DISABLED', {
    detail: 'Bans are off. Add a bans section to the configuration and restart the gateway.',
  });
}
