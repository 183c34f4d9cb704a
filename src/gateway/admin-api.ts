import type { IncomingMessage, ServerResponse } from 'node:http';

import type { CredentialChange } from '../auth/invalidation.js';
import { systemClock, type Clock } from '../core/clock.js';
import { sendProblem } from '../core/http-response.js';
import { parseIp, type CidrList } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { problem, type Problem } from '../core/problem.js';
import type { BanManager } from '../ddos/ban-service.js';
import type { EventBus } from '../events/bus.js';
import type { EventSeverity, SecurityEvent } from '../events/schema.js';
import type { CredentialStores } from '../storage/credentials.js';
import { hasBody, invalidRequest, parseQuery, readAdminBody } from './admin-body.js';
import { banRejectionFor, banRoutes, bansDisabledProblem } from './ban-routes.js';
import {
  AdminInputError,
  adminRoutes,
  matchAdminRoute,
  type AdminRoute,
  type CredentialEvent,
  type HandlerResult,
} from './admin-routes.js';
import { BearerTokenVerifier } from './bearer.js';
import {
  CredentialConflictError,
  CredentialManager,
  CredentialNotFoundError,
} from './credential-admin.js';

export interface AdminApiOptions {
  /** `admin.prefix`; the API lives under `<prefix>/admin`. */
  prefix: string;
  allow: CidrList;
  /** The variable `admin.tokenEnv` names, quoted in the 404 detail on how to enable the API. */
  tokenEnv: string;
  /** The admin token. Without one the API is off. */
  token: string | undefined;
  /** The credential stores. Without them the API is off. */
  credentials: CredentialStores | undefined;
  bus: EventBus;
  logger: Logger;
  /** Manual bans. Without them the ban endpoints respond with 404. */
  bans?: BanManager;
  /** Evicts a changed credential from caches here and on other instances. */
  notify: (change: CredentialChange) => Promise<void>;
  /** Client secret overlap when a rotation names none. */
  clientSecretGraceMs?: number;
  clock?: Clock;
}

/** One request to the admin API, with what the events need to know about it. */
interface Attempt {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path below `<prefix>/admin`. */
  path: string;
  clientIp: string;
  requestId: string;
  authenticated: boolean;
  route?: AdminRoute;
  id?: string;
}

const ADMIN_ACTOR_ID = 'admin-api';
const REALM = 'Bearer realm="bulwark-admin"';
const MAX_EVENT_TEXT = 256;
const ROUTES = [...adminRoutes, ...banRoutes];

/**
 * The credential management API under `<prefix>/admin/`: API keys and OAuth clients.
 *
 * A request needs both an address in `admin.allow` and `Authorization: Bearer <token>` with
 * the token from the variable `admin.tokenEnv` names. Without that token the API is off and
 * every path returns 404, so a gateway never exposes credential management by default.
 * Every attempt publishes `admin.action`, and every change also a `credential.*` event and
 * a cache notice. None of them contains the token or a plaintext key or secret.
 */
export class AdminApi {
  readonly basePath: string;
  private readonly bearer: BearerTokenVerifier | undefined;
  private readonly manager: CredentialManager | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: AdminApiOptions) {
    this.basePath = `${options.prefix}/admin`;
    this.clock = options.clock ?? systemClock;
    this.bearer =
      options.token === undefined
        ? undefined
        : new BearerTokenVerifier(options.token, {
            realm: REALM,
            missingDetail: 'The admin API requires Authorization: Bearer <admin token>.',
            invalidDetail: 'The admin token is not valid.',
            unauthorized,
          });
    this.manager =
      options.credentials === undefined
        ? undefined
        : new CredentialManager(options.credentials, this.clock, options.clientSecretGraceMs);
  }

  /** Returns whether a path belongs to the admin API. */
  matches(path: string): boolean {
    return path === this.basePath || path.startsWith(`${this.basePath}/`);
  }

  /** Serves one request. It never throws, and responds with 500 on an unexpected failure. */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    clientIp: string,
    requestId: string,
  ): void {
    const attempt: Attempt = {
      req,
      res,
      path: path.slice(this.basePath.length),
      clientIp,
      requestId,
      authenticated: false,
    };
    this.serve(attempt).catch((error: unknown) => this.internalError(attempt, error));
  }

  private async serve(attempt: Attempt): Promise<void> {
    // The route is matched first so that refused attempts name the action they tried.
    const match = matchAdminRoute(attempt.req.method ?? '', attempt.path, ROUTES);
    if (match.kind === 'found') {
      attempt.route = match.route;
      if (match.id !== '') attempt.id = match.id;
    }

    const denied = this.checkAccess(attempt);
    if (denied !== undefined)
      return this.reject(attempt, denied.problem, denied.reason, denied.headers);
    attempt.authenticated = true;
    if (match.kind !== 'found')
      return this.rejectRoute(attempt, match.kind === 'wrong_method' ? match.allow : undefined);
    if (match.route.service === 'bans' && this.options.bans === undefined)
      return this.reject(attempt, bansDisabledProblem(), 'bans_disabled');
    if (match.route.service === undefined && this.manager === undefined)
      return this.reject(attempt, disabledProblem(this.options.tokenEnv), 'admin_api_disabled');

    const input = await this.readInput(attempt, match.route);
    if (input === undefined) return;
    const result = await this.run(attempt, match.route, { ...input, id: match.id });
    if (result === undefined) return;

    attempt.id ??= result.event?.resourceId;
    await this.announce(attempt, result);
    this.respond(attempt, result);
  }

  /** Reads the query and the body. If either is invalid, rejects the request, returns undefined. */
  private async readInput(
    attempt: Attempt,
    route: AdminRoute,
  ): Promise<{ query: Record<string, string>; body: unknown } | undefined> {
    const query = parseQuery(attempt.req.url, route.query);
    if (!query.ok) {
      this.reject(attempt, invalidRequest(query.issues), 'invalid_request');
      return undefined;
    }
    const body = route.body ? await readAdminBody(attempt.req) : { ok: true as const, value: {} };
    if (!body.ok) {
      const headers: Record<string, string> = body.closeConnection ? { connection: 'close' } : {};
      this.reject(attempt, body.problem, body.reason, headers);
      return undefined;
    }
    return { query: query.value, body: body.value };
  }

  /**
   * Runs the handler. On invalid input, an unknown id or a state conflict, it sends the error
   * response and returns undefined.
   */
  private async run(
    attempt: Attempt,
    route: AdminRoute,
    input: { id: string; query: Record<string, string>; body: unknown },
  ): Promise<HandlerResult | undefined> {
    const handlerInput = {
      ...input,
      now: this.clock.now(),
      collectionPath: `${this.basePath}/${route.pattern.split('/')[1]}`,
    };
    try {
      return route.service === 'bans'
        ? await route.handle(this.options.bans!, handlerInput)
        : await route.handle(this.manager!, handlerInput);
    } catch (error) {
      const rejection =
        rejectionFor(error) ?? (route.service === 'bans' ? banRejectionFor(error) : undefined);
      if (rejection === undefined) throw error;
      this.reject(attempt, rejection.problem, rejection.reason);
      return undefined;
    }
  }

  /**
   * Checks the address, that the API is on, and the token, in that order: an address
   * outside `admin.allow` learns nothing more than 403.
   */
  private checkAccess(
    attempt: Attempt,
  ): { problem: Problem; reason: string; headers?: Record<string, string> } | undefined {
    const client = parseIp(attempt.clientIp);
    if (client === undefined || !this.options.allow.contains(client)) {
      return {
        reason: 'address_not_allowed',
        problem: problem('admin-forbidden', 403, 'Forbidden', 'BWK_ERR_ADMIN_FORBIDDEN', {
          detail: 'The admin endpoints answer only addresses listed in admin.allow.',
        }),
      };
    }
    // With neither credentials nor bans to manage, the API is off as if it had no token.
    const managesNothing = this.manager === undefined && this.options.bans === undefined;
    if (this.bearer === undefined || managesNothing) {
      return { reason: 'admin_api_disabled', problem: disabledProblem(this.options.tokenEnv) };
    }
    return this.bearer.verify(attempt.req.headers.authorization);
  }

  private rejectRoute(attempt: Attempt, allow: string[] | undefined): void {
    const available = 'see the admin API reference for the endpoints under this path';
    if (allow === undefined) {
      const detail = `No admin API endpoint ${attempt.req.method} ${this.basePath}${attempt.path}; ${available}.`;
      const body = problem('not-found', 404, 'Not Found', 'BWK_ERR_ADMIN_NOT_FOUND', { detail });
      this.reject(attempt, body, 'unknown_endpoint');
      return;
    }
    const detail = `${attempt.req.method} is not allowed here; use ${allow.join(', ')}.`;
    const body = problem('method-not-allowed', 405, 'Method Not Allowed', 'BWK_ERR_ADMIN_METHOD', {
      detail,
    });
    this.reject(attempt, body, 'method_not_allowed', { allow: allow.join(', ') });
  }

  /** Notifies caches of the changes and publishes the `credential.*` event. */
  private async announce(attempt: Attempt, result: HandlerResult): Promise<void> {
    for (const change of result.changes ?? []) {
      try {
        await this.options.notify(change);
      } catch (error) {
        // The change is stored. Until a notice gets through, other instances may use a cached
        // copy for as long as their cache keeps entries.
        this.options.logger.error(
          { err: error, change },
          'admin API: credential change notice failed',
        );
      }
    }
    if (result.event !== undefined) this.publishChange(attempt, result.event);
  }

  private respond(attempt: Attempt, result: HandlerResult): void {
    const { res } = attempt;
    const payload = result.body === undefined ? undefined : JSON.stringify(result.body);
    const headers: Record<string, string | number> = {
      ...result.headers,
      // Responses can carry a plaintext key or secret, which no cache may keep.
      'cache-control': 'no-store',
    };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    res.writeHead(result.status, headers);
    res.end(payload);

    const route = attempt.route!;
    this.options.logger.info(
      {
        action: route.action,
        id: attempt.id,
        status: result.status,
        ip: attempt.clientIp,
        requestId: attempt.requestId,
      },
      'admin API request served',
    );
    this.publishAction(attempt, 'success', 'info', result.status);
  }

  private reject(
    attempt: Attempt,
    body: Problem,
    reason: string,
    headers: Record<string, string> = {},
  ): void {
    // A body left unread would otherwise be read and discarded to keep the connection.
    const unread = hasBody(attempt.req) && !attempt.req.complete;
    const all = unread ? { ...headers, connection: 'close' } : headers;
    sendProblem(attempt.res, body, all, attempt.requestId);
    const severity: EventSeverity = body.status === 401 || body.status === 403 ? 'medium' : 'low';
    this.publishAction(attempt, 'failure', severity, body.status, reason);
  }

  private internalError(attempt: Attempt, error: unknown): void {
    this.options.logger.error(
      { err: error, action: attempt.route?.action, id: attempt.id, requestId: attempt.requestId },
      'admin API request failed',
    );
    const body = problem('internal', 500, 'Internal Server Error', 'BWK_ERR_INTERNAL', {
      detail: 'The request failed; the gateway log has the details under this request id.',
    });
    if (attempt.res.headersSent) {
      attempt.res.destroy();
    } else {
      sendProblem(attempt.res, body, {}, attempt.requestId);
    }
    this.publishAction(attempt, 'failure', 'medium', 500, 'internal_error');
  }

  private publishAction(
    attempt: Attempt,
    outcome: 'success' | 'failure',
    severity: EventSeverity,
    status: number,
    reason?: string,
  ): void {
    const details: Record<string, unknown> = { action: attempt.route?.action ?? 'unknown', status };
    if (reason !== undefined) details.reason = reason;
    this.options.bus.publish({
      type: 'admin.action',
      category: 'admin',
      severity,
      outcome,
      actor: this.actorOf(attempt),
      target: this.targetOf(attempt),
      correlationId: attempt.requestId,
      component: 'admin-api',
      details,
    });
  }

  private publishChange(attempt: Attempt, event: CredentialEvent): void {
    this.options.bus.publish({
      type: event.type,
      category: event.category ?? 'credential',
      severity: 'info',
      outcome: 'success',
      actor: this.actorOf(attempt),
      target: {
        ...this.targetOf(attempt),
        resourceType: event.resourceType,
        resourceId: event.resourceId,
      },
      correlationId: attempt.requestId,
      component: 'admin-api',
      details: { ...event.details, via: 'admin-api' },
    });
  }

  /**
   * Returns the event actor. The holder of the admin token acts as the user `admin-api`, and
   * before the token is checked the caller is anonymous.
   */
  private actorOf(attempt: Attempt): SecurityEvent['actor'] {
    const actor: SecurityEvent['actor'] = attempt.authenticated
      ? { type: 'user', id: ADMIN_ACTOR_ID, ip: attempt.clientIp }
      : { type: 'anonymous', ip: attempt.clientIp };
    const userAgent = attempt.req.headers['user-agent'];
    if (userAgent !== undefined) actor.userAgent = userAgent.slice(0, MAX_EVENT_TEXT);
    return actor;
  }

  private targetOf(attempt: Attempt): SecurityEvent['target'] {
    const target: SecurityEvent['target'] = {
      method: attempt.req.method,
      path: `${this.basePath}${attempt.path}`.slice(0, MAX_EVENT_TEXT),
    };
    if (attempt.route !== undefined) {
      target.route = `${attempt.route.method} ${this.basePath}${attempt.route.pattern}`;
      target.resourceType = attempt.route.resourceType;
    }
    if (attempt.id !== undefined) target.resourceId = attempt.id;
    return target;
  }
}

const apis = new WeakMap<object, AdminApi>();

/**
 * Returns the admin API of `owner` (a gateway), creating it on first use. The options are
 * read once, so the token is fixed from the first admin request on.
 */
export function adminApiFor(owner: object, options: () => AdminApiOptions): AdminApi {
  let api = apis.get(owner);
  if (api === undefined) {
    api = new AdminApi(options());
    apis.set(owner, api);
  }
  return api;
}

function unauthorized(detail: string): Problem {
  return problem('admin-unauthorized', 401, 'Unauthorized', 'BWK_ERR_ADMIN_UNAUTHORIZED', {
    detail,
  });
}

function disabledProblem(tokenEnv: string): Problem {
  return problem('admin-api-disabled', 404, 'Not Found', 'BWK_ERR_ADMIN_API_DISABLED', {
    detail: `The admin API is off. To enable it, set the environment variable ${tokenEnv} to a random token of at least 32 characters (e.g. openssl rand -hex 32) and restart the gateway; the credential store also needs the API key pepper.`,
  });
}

function rejectionFor(error: unknown): { problem: Problem; reason: string } | undefined {
  if (error instanceof AdminInputError)
    return { problem: invalidRequest(error.issues), reason: 'invalid_request' };
  if (error instanceof CredentialNotFoundError) {
    const detail = `There is no ${error.kind} with id "${error.id}".`;
    return {
      problem: problem('credential-not-found', 404, 'Not Found', error.code, { detail }),
      reason: 'unknown_id',
    };
  }
  if (error instanceof CredentialConflictError) {
    const detail = `${error.message[0]!.toUpperCase()}${error.message.slice(1)}.`;
    return {
      problem: problem('credential-conflict', 409, 'Conflict', error.code, { detail }),
      reason: 'conflict',
    };
  }
  return undefined;
}
