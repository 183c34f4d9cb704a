import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ApiKeyHasher } from '../../src/auth/api-key-store.js';
import { clientSecretMatches } from '../../src/auth/client-store.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { MAX_ADMIN_BODY_BYTES } from '../../src/gateway/admin-body.js';
import type { Gateway } from '../../src/gateway/server.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

// Variables of this file's own, so that parallel test files never share a pepper or token.
const SUFFIX = randomBytes(6).toString('hex').toUpperCase();
const PEPPER_ENV = `BWK_TEST_PEPPER_${SUFFIX}`;
const TOKEN_ENV = `BWK_TEST_ADMIN_TOKEN_${SUFFIX}`;
const UNSET_ENV = `BWK_TEST_UNSET_${SUFFIX}`;
const PEPPER = randomBytes(32).toString('base64');
const TOKEN = randomBytes(32).toString('hex');

const ADMIN = '/_bulwark/admin';
const JSON_TYPE = { 'content-type': 'application/json' };

let upstream: Upstream;
let gateway: Gateway;
let credentials: CredentialStores;
const events: SecurityEvent[] = [];
/** Events of the whole file, while `events` contains those of the current test. */
const allEvents: SecurityEvent[] = [];
/** Every plaintext key and secret the API returned, none of which may appear in an event. */
const issuedSecrets: string[] = [];

beforeAll(async () => {
  process.env[PEPPER_ENV] = PEPPER;
  process.env[TOKEN_ENV] = TOKEN;
  upstream = await startUpstream((_req, res) => res.end('upstream'));
  credentials = createMemoryCredentialStores({ pepper: PEPPER });
  const bus = new EventBus();
  bus.subscribe((event) => {
    events.push(event);
    allEvents.push(event);
  });
  gateway = await startGateway(
    {
      upstream: upstream.url,
      trustProxy: ['127.0.0.1/32'],
      admin: { tokenEnv: TOKEN_ENV, allow: ['127.0.0.1/32'] },
      auth: { apiKeys: { pepperEnv: PEPPER_ENV } },
      routes: [{ match: 'GET /orders', auth: { methods: ['apiKey'] } }],
    },
    { bus, credentials },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
  delete process.env[PEPPER_ENV];
  delete process.env[TOKEN_ENV];
});

beforeEach(() => {
  events.length = 0;
});

interface CallOptions {
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
  agent?: Agent;
}

/** Calls the admin API with the admin token, unless `token` replaces or (null) drops it. */
async function admin(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    Object.assign(headers, JSON_TYPE, options.headers);
  }
  const reply = await send(gateway.url, `${ADMIN}${path}`, {
    method,
    headers,
    body,
    agent: options.agent,
  });
  collectSecrets(reply);
  return reply;
}

function collectSecrets(reply: Reply): void {
  if (!reply.headers['content-type']?.startsWith('application/json')) return;
  const body = json(reply);
  if (typeof body.key === 'string') issuedSecrets.push(body.key);
  if (typeof body.client_secret === 'string') issuedSecrets.push(body.client_secret);
}

function callApi(key: string): Promise<Reply> {
  return send(gateway.url, '/orders', { headers: { authorization: `Bearer ${key}` } });
}

async function createKey(body: Record<string, unknown> = {}): Promise<{ key: string; id: string }> {
  const reply = await admin('POST', '/keys', { body: { name: 'ci', owner: 'team-a', ...body } });
  expect(reply.status).toBe(201);
  const created = json<{ key: string; record: { id: string } }>(reply);
  return { key: created.key, id: created.record.id };
}

function eventsOf(type: string): SecurityEvent[] {
  return events.filter((event) => event.type === type);
}

function expectProblem(reply: Reply, status: number, code: string): Record<string, unknown> {
  expect(reply.status).toBe(status);
  expect(reply.headers['content-type']).toBe('application/problem+json');
  const body = json(reply);
  expect(body.code).toBe(code);
  return body;
}

describe('admin API access', () => {
  it('is off without a token', async () => {
    const off = await startGateway(
      { upstream: upstream.url, admin: { tokenEnv: UNSET_ENV } },
      { credentials },
    );
    try {
      const reply = await send(off.url, `${ADMIN}/keys`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });

      const body = expectProblem(reply, 404, 'BWK_ERR_ADMIN_API_DISABLED');
      expect(body.detail).toContain(UNSET_ENV);
      expect((await send(off.url, '/_bulwark/health')).status).toBe(200);
    } finally {
      await off.stop();
    }
  });

  it('is off with a token under 32 characters', async () => {
    const shortEnv = `${UNSET_ENV}_SHORT`;
    process.env[shortEnv] = 'x'.repeat(31);
    const off = await startGateway(
      { upstream: upstream.url, admin: { tokenEnv: shortEnv } },
      { credentials },
    );
    try {
      const reply = await send(off.url, `${ADMIN}/keys`, {
        headers: { authorization: `Bearer ${'x'.repeat(31)}` },
      });

      expectProblem(reply, 404, 'BWK_ERR_ADMIN_API_DISABLED');
    } finally {
      await off.stop();
      delete process.env[shortEnv];
    }
  });

  it('missing token is 401', async () => {
    const reply = await admin('GET', '/keys', { token: null });

    expectProblem(reply, 401, 'BWK_ERR_ADMIN_UNAUTHORIZED');
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="bulwark-admin"');
    const [event] = eventsOf('admin.action');
    expect(event?.outcome).toBe('failure');
    expect(event?.details.reason).toBe('missing_token');
    expect(event?.actor).toMatchObject({ type: 'anonymous', ip: '127.0.0.1' });
  });

  it('refused attempt names the action', async () => {
    const agent = new Agent({ keepAlive: true });
    const reply = await admin('POST', '/keys/AAAAAAAAAAAA/revoke', { token: null, agent });
    agent.destroy();

    expect(reply.status).toBe(401);
    expect(reply.headers.connection).toBe('keep-alive');
    const [event] = eventsOf('admin.action');
    expect(event?.details).toMatchObject({ action: 'keys.revoke', status: 401 });
    expect(event?.target.resourceId).toBe('AAAAAAAAAAAA');
  });

  it('wrong token is 401 and not logged', async () => {
    const wrong = randomBytes(32).toString('hex');

    const reply = await admin('GET', '/keys', { token: wrong });

    expectProblem(reply, 401, 'BWK_ERR_ADMIN_UNAUTHORIZED');
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer realm="bulwark-admin", error="invalid_token"',
    );
    const [event] = eventsOf('admin.action');
    expect(event?.details.reason).toBe('invalid_token');
    expect(JSON.stringify(events)).not.toContain(wrong);
  });

  it('token with another scheme is 401', async () => {
    const reply = await admin('GET', '/keys', {
      token: null,
      headers: { authorization: `Basic ${TOKEN}` },
    });

    expectProblem(reply, 401, 'BWK_ERR_ADMIN_UNAUTHORIZED');
  });

  it('address outside admin.allow is 403', async () => {
    const reply = await admin('GET', '/keys', { headers: { 'x-forwarded-for': '203.0.113.9' } });

    expectProblem(reply, 403, 'BWK_ERR_ADMIN_FORBIDDEN');
    const [event] = eventsOf('admin.action');
    expect(event?.details.reason).toBe('address_not_allowed');
    expect(event?.actor.ip).toBe('203.0.113.9');
  });

  it('unknown endpoint is 404', async () => {
    const reply = await admin('GET', '/users');

    expectProblem(reply, 404, 'BWK_ERR_ADMIN_NOT_FOUND');
  });

  it('wrong method is 405 with Allow', async () => {
    const reply = await admin('PUT', '/keys');

    expectProblem(reply, 405, 'BWK_ERR_ADMIN_METHOD');
    expect(reply.headers.allow).toBe('POST, GET');
  });

  it('successful request publishes admin.action', async () => {
    await admin('GET', '/keys');

    const [event] = eventsOf('admin.action');
    expect(event?.outcome).toBe('success');
    expect(event?.actor).toMatchObject({ type: 'user', id: 'admin-api', ip: '127.0.0.1' });
    expect(event?.details).toMatchObject({ action: 'keys.list', status: 200 });
    expect(event?.target.route).toBe(`GET ${ADMIN}/keys`);
  });
});

describe('admin API keys', () => {
  it('create returns the key once and no hash', async () => {
    const reply = await admin('POST', '/keys', {
      body: { name: 'ci', owner: 'team-a', env: 'test', scopes: ['orders:read'], plan: 'pro' },
    });

    expect(reply.status).toBe(201);
    expect(reply.headers['cache-control']).toBe('no-store');
    const body = json<{ key: string; record: Record<string, unknown> }>(reply);
    expect(body.key).toMatch(/^bwk_test_[0-9A-Za-z]{46}$/);
    expect(body.record).toMatchObject({
      name: 'ci',
      owner: 'team-a',
      env: 'test',
      scopes: ['orders:read'],
      plan: 'pro',
      status: 'active',
      expiresAt: null,
    });
    expect(body.record).not.toHaveProperty('hash');
    expect(reply.headers.location).toBe(`${ADMIN}/keys/${String(body.record.id)}`);
    const shown = await admin('GET', `/keys/${String(body.record.id)}`);
    expect(shown.text).not.toContain(body.key);
  });

  it('created key works on an apiKey route', async () => {
    const { key } = await createKey();

    const reply = await callApi(key);

    expect(reply.status).toBe(200);
    expect(reply.text).toBe('upstream');
  });

  it('create publishes credential.created', async () => {
    const { id } = await createKey({ owner: 'team-events' });

    const [event] = eventsOf('credential.created');
    expect(event?.category).toBe('credential');
    expect(event?.target).toMatchObject({ resourceType: 'api_key', resourceId: id });
    expect(event?.details).toMatchObject({ owner: 'team-events', via: 'admin-api' });
    expect(event?.actor).toMatchObject({ type: 'user', id: 'admin-api', ip: '127.0.0.1' });
    const [action] = eventsOf('admin.action');
    expect(action?.target.resourceId).toBe(id);
  });

  it('expiresIn sets expiresAt', async () => {
    const before = Date.now();
    const reply = await admin('POST', '/keys', {
      body: { name: 'short', owner: 'team-a', expiresIn: '90d' },
    });

    const expiresAt = Date.parse(json<{ record: { expiresAt: string } }>(reply).record.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 90 * 86_400_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
  });

  it('list filters by owner', async () => {
    const { id } = await createKey({ owner: 'team-list' });
    await createKey({ owner: 'team-other' });

    const reply = await admin('GET', '/keys?owner=team-list');

    expect(reply.status).toBe(200);
    const keys = json<{ keys: Array<{ id: string }> }>(reply).keys;
    expect(keys.map((key) => key.id)).toEqual([id]);
    expect(reply.text).not.toContain('"hash"');
  });

  it('list rejects unknown query parameters', async () => {
    const reply = await admin('GET', '/keys?ownr=team-list');

    const body = expectProblem(reply, 400, 'BWK_ERR_ADMIN_INVALID_REQUEST');
    expect(body.errors).toEqual([{ field: 'query.ownr', message: 'unknown query parameter' }]);
  });

  it('show of unknown id is 404', async () => {
    const reply = await admin('GET', '/keys/AAAAAAAAAAAA');

    const body = expectProblem(reply, 404, 'BWK_ERR_CREDENTIAL_NOT_FOUND');
    expect(body.detail).toContain('AAAAAAAAAAAA');
  });

  it('rotated key works during grace', async () => {
    const { key: oldKey, id } = await createKey();

    const reply = await admin('POST', `/keys/${id}/rotate`, { body: { grace: '1h' } });

    expect(reply.status).toBe(201);
    const body = json<{ key: string; record: { id: string }; previous: Record<string, unknown> }>(
      reply,
    );
    expect(body.previous).toMatchObject({ id, status: 'rotated', replacedBy: body.record.id });
    expect((await callApi(body.key)).status).toBe(200);
    expect((await callApi(oldKey)).status).toBe(200);
    const [event] = eventsOf('credential.rotated');
    expect(event?.target.resourceId).toBe(id);
    expect(event?.details).toMatchObject({ successorId: body.record.id, graceMs: 3_600_000 });
  });

  it('rotated key stops after zero grace', async () => {
    const { key: oldKey, id } = await createKey();
    expect((await callApi(oldKey)).status).toBe(200);

    const reply = await admin('POST', `/keys/${id}/rotate`, { body: { grace: '0s' } });

    expect(reply.status).toBe(201);
    const rejected = await callApi(oldKey);
    expect(rejected.status).toBe(401);
    expect(json(rejected).reason).toBe('rotated');
  });

  it('rotate without body uses the default grace', async () => {
    const { id } = await createKey();

    const reply = await admin('POST', `/keys/${id}/rotate`);

    expect(reply.status).toBe(201);
    expect(eventsOf('credential.rotated')[0]?.details.graceMs).toBe(86_400_000);
  });

  it('second rotation of a key is 409', async () => {
    const { id } = await createKey();
    await admin('POST', `/keys/${id}/rotate`, { body: { grace: '1h' } });

    const reply = await admin('POST', `/keys/${id}/rotate`, { body: { grace: '1h' } });

    const body = expectProblem(reply, 409, 'BWK_ERR_CREDENTIAL_CONFLICT');
    expect(body.detail).toContain('already rotated');
  });

  it('revoked key is rejected', async () => {
    const { key, id } = await createKey({ owner: 'team-revoke' });
    expect((await callApi(key)).status).toBe(200);

    const reply = await admin('POST', `/keys/${id}/revoke`);

    expect(reply.status).toBe(200);
    expect(json(reply).status).toBe('revoked');
    const rejected = await callApi(key);
    expect(rejected.status).toBe(401);
    expect(json(rejected).reason).toBe('revoked');
    const [event] = eventsOf('credential.revoked');
    expect(event?.details).toMatchObject({ owner: 'team-revoke', reason: 'revoked' });
  });

  it('DELETE revokes a key', async () => {
    const { key, id } = await createKey();

    const reply = await admin('DELETE', `/keys/${id}`);

    expect(reply.status).toBe(200);
    expect((await callApi(key)).status).toBe(401);
  });

  it('revoked key cannot be rotated', async () => {
    const { id } = await createKey();
    await admin('DELETE', `/keys/${id}`);

    const reply = await admin('POST', `/keys/${id}/rotate`);

    expectProblem(reply, 409, 'BWK_ERR_CREDENTIAL_CONFLICT');
  });

  it('expired key cannot be rotated', async () => {
    const expired = await credentials.apiKeys.create({
      env: 'live',
      name: 'old',
      owner: 'team-a',
      expiresAt: 1,
    });

    const reply = await admin('POST', `/keys/${expired.record.id}/rotate`);

    const body = expectProblem(reply, 409, 'BWK_ERR_CREDENTIAL_CONFLICT');
    expect(body.detail).toContain('expired at 1970-01-01T00:00:00.001Z');
  });

  it('revoke of unknown id is 404', async () => {
    const reply = await admin('POST', '/keys/AAAAAAAAAAAA/revoke');

    expectProblem(reply, 404, 'BWK_ERR_CREDENTIAL_NOT_FOUND');
  });
});

describe('admin API validation', () => {
  it.each([
    ['missing name', { owner: 'a' }, 'name', 'is required'],
    ['empty owner', { name: 'a', owner: '' }, 'owner', 'must not be empty'],
    ['name with newline', { name: 'a\nb', owner: 'a' }, 'name', 'must not contain control'],
    ['bad env', { name: 'a', owner: 'a', env: 'Live' }, 'env', 'lower-case'],
    ['scope with space', { name: 'a', owner: 'a', scopes: ['a b'] }, 'scopes.0', 'printable'],
    ['scopes not a list', { name: 'a', owner: 'a', scopes: 'read' }, 'scopes', 'expected array'],
    ['bad plan', { name: 'a', owner: 'a', plan: 'pro plan' }, 'plan', 'letters, digits'],
    ['bad duration', { name: 'a', owner: 'a', expiresIn: '10x' }, 'expiresIn', 'and a unit'],
    ['zero lifetime', { name: 'a', owner: 'a', expiresIn: '0s' }, 'expiresIn', 'from 1ms to'],
    ['bad time', { name: 'a', owner: 'a', expiresAt: 'tomorrow' }, 'expiresAt', 'RFC 3339'],
    [
      'past time',
      { name: 'a', owner: 'a', expiresAt: '2001-01-01T00:00:00Z' },
      'expiresAt',
      'in the past',
    ],
    [
      'both expiries',
      { name: 'a', owner: 'a', expiresIn: '1d', expiresAt: '2999-01-01T00:00:00Z' },
      'expiresAt',
      'either expiresIn or expiresAt',
    ],
    ['unknown field', { name: 'a', owner: 'a', scope: ['x'] }, 'scope', 'unknown field'],
    ['not an object', ['a'], '(body)', 'expected object'],
  ])('key with %s is 400', async (_title, body, field, message) => {
    const reply = await admin('POST', '/keys', { body });

    const problem = expectProblem(reply, 400, 'BWK_ERR_ADMIN_INVALID_REQUEST');
    const errors = problem.errors as Array<{ field: string; message: string }>;
    expect(errors.map((error) => error.field)).toContain(field);
    expect(errors.find((error) => error.field === field)?.message).toContain(message);
    expect(problem.detail).toContain(field);
  });

  it('invalid grace is 400', async () => {
    const { id } = await createKey();

    const reply = await admin('POST', `/keys/${id}/rotate`, { body: { grace: '91d' } });

    const body = expectProblem(reply, 400, 'BWK_ERR_ADMIN_INVALID_REQUEST');
    expect(body.errors).toEqual([{ field: 'grace', message: 'must be from 0s to 90d' }]);
  });

  it('invalid JSON is 400', async () => {
    const reply = await admin('POST', '/keys', { body: '{"name": ' });

    const body = expectProblem(reply, 400, 'BWK_ERR_ADMIN_INVALID_REQUEST');
    expect(body.errors).toEqual([{ field: '(body)', message: 'is not valid JSON' }]);
  });

  it('non-JSON body is 415', async () => {
    const reply = await admin('POST', '/keys', {
      body: 'name=a&owner=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

    expectProblem(reply, 415, 'BWK_ERR_ADMIN_MEDIA_TYPE');
  });

  it('oversized body is 413', async () => {
    const agent = new Agent({ keepAlive: true });
    const reply = await admin('POST', '/keys', {
      body: { name: 'a', owner: 'a', padding: 'x'.repeat(MAX_ADMIN_BODY_BYTES) },
      agent,
    });
    agent.destroy();

    expectProblem(reply, 413, 'BWK_ERR_ADMIN_BODY_TOO_LARGE');
    expect(reply.headers.connection).toBe('close');
  });

  it('failed validation publishes admin.action failure', async () => {
    await admin('POST', '/keys', { body: { owner: 'a' } });

    const [event] = eventsOf('admin.action');
    expect(event?.outcome).toBe('failure');
    expect(event?.details).toMatchObject({ action: 'keys.create', reason: 'invalid_request' });
    expect(eventsOf('credential.created')).toEqual([]);
  });
});

describe('admin API clients', () => {
  async function createClient(owner = 'team-a'): Promise<{ id: string; secret: string }> {
    const reply = await admin('POST', '/clients', {
      body: { name: 'billing', owner, scopes: ['orders:read'] },
    });
    expect(reply.status).toBe(201);
    const body = json<{ client_id: string; client_secret: string }>(reply);
    return { id: body.client_id, secret: body.client_secret };
  }

  async function secretWorks(id: string, secret: string): Promise<boolean> {
    const record = await credentials.clients.findClient(id);
    return clientSecretMatches(record!, secret, new ApiKeyHasher(PEPPER), Date.now());
  }

  it('create returns the secret once', async () => {
    const reply = await admin('POST', '/clients', {
      body: { name: 'billing', owner: 'team-a', scopes: ['orders:read'], plan: 'pro' },
    });

    expect(reply.status).toBe(201);
    const body = json<{ client_id: string; client_secret: string; record: object }>(reply);
    expect(body.client_id).toMatch(/^bwc_/);
    expect(body.client_secret).toMatch(/^bws_/);
    expect(body.record).toMatchObject({ id: body.client_id, scopes: ['orders:read'], plan: 'pro' });
    expect(JSON.stringify(body.record)).not.toContain('hash');
    expect(await secretWorks(body.client_id, body.client_secret)).toBe(true);
    const [event] = eventsOf('credential.created');
    expect(event?.target).toMatchObject({
      resourceType: 'oauth_client',
      resourceId: body.client_id,
    });
  });

  it('list and show omit hashes', async () => {
    const { id } = await createClient('team-clients');

    const list = await admin('GET', '/clients?owner=team-clients');
    const shown = await admin('GET', `/clients/${id}`);

    expect(json<{ clients: Array<{ id: string }> }>(list).clients.map((c) => c.id)).toEqual([id]);
    expect(json(shown)).toMatchObject({ id, owner: 'team-clients' });
    expect(list.text).not.toContain('hash');
    expect(shown.text).not.toContain('hash');
  });

  it('rotate-secret keeps the old secret in grace', async () => {
    const { id, secret: oldSecret } = await createClient();

    const reply = await admin('POST', `/clients/${id}/rotate-secret`, { body: { grace: '1h' } });

    expect(reply.status).toBe(200);
    const body = json<{ client_secret: string; record: { secrets: unknown[] } }>(reply);
    expect(body.record.secrets).toHaveLength(2);
    expect(await secretWorks(id, body.client_secret)).toBe(true);
    expect(await secretWorks(id, oldSecret)).toBe(true);
    expect(eventsOf('credential.rotated')[0]?.target.resourceType).toBe('oauth_client');
  });

  it('rotate-secret with zero grace ends the old secret', async () => {
    const { id, secret: oldSecret } = await createClient();

    await admin('POST', `/clients/${id}/rotate-secret`, { body: { grace: '0s' } });

    expect(await secretWorks(id, oldSecret)).toBe(false);
  });

  it('rotate-secret without grace keeps the old secret for a day', async () => {
    const { id } = await createClient();

    const reply = await admin('POST', `/clients/${id}/rotate-secret`);

    const body = json<{ record: { secrets: Array<{ expiresAt: string | null }> } }>(reply);
    const overlap = Date.parse(body.record.secrets[0]!.expiresAt!) - Date.now();
    expect(overlap).toBeGreaterThan(23 * 3_600_000);
    expect(overlap).toBeLessThanOrEqual(24 * 3_600_000);
  });

  it('delete removes the client', async () => {
    const { id } = await createClient('team-delete');

    const reply = await admin('DELETE', `/clients/${id}`);

    expect(reply.status).toBe(204);
    expect(await credentials.clients.findClient(id)).toBeUndefined();
    const [event] = eventsOf('credential.revoked');
    expect(event?.details).toMatchObject({ owner: 'team-delete', reason: 'deleted' });
    expectProblem(await admin('DELETE', `/clients/${id}`), 404, 'BWK_ERR_CREDENTIAL_NOT_FOUND');
  });

  it('unknown client is 404', async () => {
    const reply = await admin('POST', '/clients/bwc_AAAAAAAAAAAAAAAAAAAA/rotate-secret');

    expectProblem(reply, 404, 'BWK_ERR_CREDENTIAL_NOT_FOUND');
  });
});

describe('oauth.secretRotationGrace', () => {
  it('sets the overlap of a rotation that names none', async () => {
    const configured = await startGateway(
      {
        upstream: upstream.url,
        admin: { tokenEnv: TOKEN_ENV },
        auth: { apiKeys: { pepperEnv: PEPPER_ENV } },
        oauth: { issuer: 'http://127.0.0.1:8080', secretRotationGrace: '2h' },
      },
      { credentials },
    );
    try {
      const call = (path: string, body: string) =>
        send(configured.url, `${ADMIN}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, ...JSON_TYPE },
          body,
        });
      const created = json<{ client_id: string }>(
        await call('/clients', '{"name":"n","owner":"o"}'),
      );

      const rotated = await call(`/clients/${created.client_id}/rotate-secret`, '{}');

      const body = json<{ record: { secrets: Array<{ expiresAt: string | null }> } }>(rotated);
      const overlap = Date.parse(body.record.secrets[0]!.expiresAt!) - Date.now();
      expect(overlap).toBeGreaterThan(2 * 3_600_000 - 60_000);
      expect(overlap).toBeLessThanOrEqual(2 * 3_600_000);
    } finally {
      await configured.stop();
    }
  });
});

describe('admin API secrecy', () => {
  it('events never contain keys, secrets or the token', async () => {
    await createKey();
    const all = JSON.stringify(allEvents);

    expect(issuedSecrets.length).toBeGreaterThan(5);
    for (const secret of [...issuedSecrets, TOKEN]) expect(all).not.toContain(secret);
  });
});
