import type { CredentialChange } from '../auth/invalidation.js';
import type { BanRoute } from './ban-routes.js';
import type { CredentialManager } from './credential-admin.js';
import {
  parseListFilter,
  parseNewApiKey,
  parseNewClient,
  parseRotation,
  type ApiKeyView,
  type ClientView,
  type InputIssue,
  type Parsed,
} from './credential-input.js';

/**
 * The admin API's credential endpoints: the route table and one handler per operation.
 * Handlers validate their input, call the credential manager and describe the response and
 * the `credential.*` event; the admin API does the HTTP, authentication and events.
 */

export type ResourceType = 'api_key' | 'oauth_client' | 'ip_ban';

/** A `credential.*` event of a change, without the actor and request fields. */
export interface CredentialEvent {
  type:
    | 'credential.created'
    | 'credential.rotated'
    | 'credential.revoked'
    | 'ban.applied'
    | 'ban.removed';
  /** `credential` unless set; ban changes are `admin`. */
  category?: 'credential' | 'admin';
  resourceType: ResourceType;
  resourceId: string;
  details: Record<string, unknown>;
}

export interface HandlerInput {
  /** The `:id` path segment. */
  id: string;
  body: unknown;
  query: Record<string, string>;
  now: number;
  /** Path of the collection, e.g. `/_bulwark/admin/keys`, for `Location` headers. */
  collectionPath: string;
}

export interface HandlerResult {
  status: number;
  /** Absent for 204. */
  body?: unknown;
  headers?: Record<string, string>;
  event?: CredentialEvent;
  /** Changes that other instances' caches must hear about. */
  changes?: CredentialChange[];
}

/** Invalid input found by a handler. The admin API responds with 400 and the list of issues. */
export class AdminInputError extends Error {
  constructor(readonly issues: InputIssue[]) {
    super('invalid admin API input');
  }
}

/** What every admin endpoint declares besides its handler. */
export interface AdminRouteBase {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path below `<prefix>/admin`, with `:id` for the credential id. */
  pattern: string;
  /** Name in `admin.action` events, e.g. `keys.rotate`. */
  action: string;
  resourceType: ResourceType;
  /** Query parameters the endpoint reads; any other is rejected. */
  query: readonly string[];
  /** Whether the endpoint reads a JSON body. */
  body: boolean;
}

/** An endpoint of credential management. */
export interface CredentialRoute extends AdminRouteBase {
  service?: undefined;
  handle: (manager: CredentialManager, input: HandlerInput) => Promise<HandlerResult>;
}

export type AdminRoute = CredentialRoute | BanRoute;

function valueOf<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new AdminInputError(parsed.issues);
  return parsed.value;
}

function keyDetails(view: ApiKeyView): Record<string, unknown> {
  return {
    owner: view.owner,
    name: view.name,
    env: view.env,
    scopes: view.scopes,
    plan: view.plan,
    expiresAt: view.expiresAt,
  };
}

function clientDetails(view: ClientView): Record<string, unknown> {
  return { owner: view.owner, name: view.name, scopes: view.scopes, plan: view.plan };
}

const keyRoutes: CredentialRoute[] = [
  {
    method: 'POST',
    pattern: '/keys',
    action: 'keys.create',
    resourceType: 'api_key',
    query: [],
    body: true,
    async handle(manager, input) {
      const issued = await manager.createKey(valueOf(parseNewApiKey(input.body, input.now)));
      const id = issued.record.id;
      return {
        status: 201,
        body: { key: issued.key, record: issued.record },
        headers: { location: `${input.collectionPath}/${id}` },
        event: {
          type: 'credential.created',
          resourceType: 'api_key',
          resourceId: id,
          details: keyDetails(issued.record),
        },
        changes: [{ kind: 'apiKey', id }],
      };
    },
  },
  {
    method: 'GET',
    pattern: '/keys',
    action: 'keys.list',
    resourceType: 'api_key',
    query: ['owner'],
    body: false,
    async handle(manager, input) {
      return {
        status: 200,
        body: { keys: await manager.listKeys(valueOf(parseListFilter(input.query))) },
      };
    },
  },
  {
    method: 'GET',
    pattern: '/keys/:id',
    action: 'keys.show',
    resourceType: 'api_key',
    query: [],
    body: false,
    async handle(manager, input) {
      return { status: 200, body: await manager.getKey(input.id) };
    },
  },
  {
    method: 'POST',
    pattern: '/keys/:id/rotate',
    action: 'keys.rotate',
    resourceType: 'api_key',
    query: [],
    body: true,
    async handle(manager, input) {
      const { graceMs } = valueOf(parseRotation(input.body));
      const rotated = await manager.rotateKey(input.id, graceMs);
      const successor = rotated.record.id;
      return {
        status: 201,
        body: rotated,
        headers: { location: `${input.collectionPath}/${successor}` },
        event: {
          type: 'credential.rotated',
          resourceType: 'api_key',
          resourceId: input.id,
          details: {
            owner: rotated.previous.owner,
            successorId: successor,
            graceMs,
            graceEndsAt: rotated.previous.expiresAt,
          },
        },
        changes: [
          { kind: 'apiKey', id: input.id },
          { kind: 'apiKey', id: successor },
        ],
      };
    },
  },
  revokeKeyRoute('POST', '/keys/:id/revoke'),
  revokeKeyRoute('DELETE', '/keys/:id'),
];

function revokeKeyRoute(method: 'POST' | 'DELETE', pattern: string): CredentialRoute {
  return {
    method,
    pattern,
    action: 'keys.revoke',
    resourceType: 'api_key',
    query: [],
    body: false,
    async handle(manager, input) {
      const revoked = await manager.revokeKey(input.id);
      return {
        status: 200,
        body: revoked,
        event: {
          type: 'credential.revoked',
          resourceType: 'api_key',
          resourceId: input.id,
          details: { owner: revoked.owner, name: revoked.name, reason: 'revoked' },
        },
        changes: [{ kind: 'apiKey', id: input.id }],
      };
    },
  };
}

const clientRoutes: CredentialRoute[] = [
  {
    method: 'POST',
    pattern: '/clients',
    action: 'clients.create',
    resourceType: 'oauth_client',
    query: [],
    body: true,
    async handle(manager, input) {
      const issued = await manager.createClient(valueOf(parseNewClient(input.body)));
      const id = issued.clientId;
      return {
        status: 201,
        body: { client_id: id, client_secret: issued.clientSecret, record: issued.record },
        headers: { location: `${input.collectionPath}/${id}` },
        event: {
          type: 'credential.created',
          resourceType: 'oauth_client',
          resourceId: id,
          details: clientDetails(issued.record),
        },
        changes: [{ kind: 'client', id }],
      };
    },
  },
  {
    method: 'GET',
    pattern: '/clients',
    action: 'clients.list',
    resourceType: 'oauth_client',
    query: ['owner'],
    body: false,
    async handle(manager, input) {
      return {
        status: 200,
        body: { clients: await manager.listClients(valueOf(parseListFilter(input.query))) },
      };
    },
  },
  {
    method: 'GET',
    pattern: '/clients/:id',
    action: 'clients.show',
    resourceType: 'oauth_client',
    query: [],
    body: false,
    async handle(manager, input) {
      return { status: 200, body: await manager.getClient(input.id) };
    },
  },
  {
    method: 'POST',
    pattern: '/clients/:id/rotate-secret',
    action: 'clients.rotate_secret',
    resourceType: 'oauth_client',
    query: [],
    body: true,
    async handle(manager, input) {
      const { graceMs } = valueOf(parseRotation(input.body, manager.clientSecretGraceMs));
      const issued = await manager.rotateClientSecret(input.id, graceMs);
      return {
        status: 200,
        body: {
          client_id: issued.clientId,
          client_secret: issued.clientSecret,
          record: issued.record,
        },
        event: {
          type: 'credential.rotated',
          resourceType: 'oauth_client',
          resourceId: input.id,
          details: {
            owner: issued.record.owner,
            graceMs,
            graceEndsAt: new Date(input.now + graceMs).toISOString(),
          },
        },
        changes: [{ kind: 'client', id: input.id }],
      };
    },
  },
  {
    method: 'DELETE',
    pattern: '/clients/:id',
    action: 'clients.delete',
    resourceType: 'oauth_client',
    query: [],
    body: false,
    async handle(manager, input) {
      const deleted = await manager.deleteClient(input.id);
      return {
        status: 204,
        event: {
          type: 'credential.revoked',
          resourceType: 'oauth_client',
          resourceId: input.id,
          details: { owner: deleted.owner, name: deleted.name, reason: 'deleted' },
        },
        changes: [{ kind: 'client', id: input.id }],
      };
    },
  },
];

export const adminRoutes: readonly AdminRoute[] = [...keyRoutes, ...clientRoutes];

export type RouteMatch =
  | { kind: 'found'; route: AdminRoute; id: string }
  | { kind: 'wrong_method'; allow: string[] }
  | { kind: 'none' };

// Longer than any key or client id, so a real id is never cut.
const MAX_ID_LENGTH = 64;

/** Matches a method and a path below `<prefix>/admin` (e.g. `/keys/abc/rotate`). */
export function matchAdminRoute(
  method: string,
  path: string,
  routes: readonly AdminRoute[] = adminRoutes,
): RouteMatch {
  const segments = path.split('/').slice(1);
  const allow = new Set<string>();
  for (const route of routes) {
    const id = matchPattern(route.pattern, segments);
    if (id === undefined) continue;
    if (route.method === method) return { kind: 'found', route, id };
    allow.add(route.method);
  }
  return allow.size === 0 ? { kind: 'none' } : { kind: 'wrong_method', allow: [...allow] };
}

/** Returns the `:id` segment (empty when the pattern has none), or undefined on no match. */
function matchPattern(pattern: string, segments: readonly string[]): string | undefined {
  const parts = pattern.split('/').slice(1);
  if (parts.length !== segments.length) return undefined;
  let id = '';
  for (const [index, part] of parts.entries()) {
    const segment = segments[index]!;
    if (part === ':id') {
      if (segment === '' || segment.length > MAX_ID_LENGTH) return undefined;
      id = segment;
    } else if (part !== segment) {
      return undefined;
    }
  }
  return id;
}
