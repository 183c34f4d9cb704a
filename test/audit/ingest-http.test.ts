import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { INGEST_TOKEN_ENV, MAX_INGEST_BODY_BYTES } from '../../src/audit/ingest-routes.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = randomBytes(32).toString('hex');
const PATH = '/_bulwark/audit/events';
const JSON_TYPE = 'application/json';

let upstream: Upstream;
let gateway: Gateway;
const events: SecurityEvent[] = [];

const login = {
  type: 'auth.login',
  outcome: 'success',
  application: 'shop',
  actor: { type: 'user', id: 'ada', ip: '192.0.2.10' },
  correlationId: 'app-req-1',
  details: { method: 'password' },
};

beforeAll(async () => {
  process.env[INGEST_TOKEN_ENV] = TOKEN;
  upstream = await startUpstream((_req, res) => res.end('upstream'));
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      trustProxy: ['127.0.0.1/32'],
      admin: { allow: ['127.0.0.1/32'] },
    },
    { bus },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
  delete process.env[INGEST_TOKEN_ENV];
});

beforeEach(() => {
  events.length = 0;
});

function post(
  body: unknown,
  options: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': JSON_TYPE, ...options.headers };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return send(gateway.url, PATH, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const ingested = (): SecurityEvent[] =>
  events.filter(
    (event) => event.source.component === 'audit-ingest' && event.type !== 'admin.action',
  );
const rejections = (): SecurityEvent[] =>
  events.filter(
    (event) => event.type === 'admin.action' && event.details.action === 'audit.ingest',
  );

describe('POST /audit/events', () => {
  it('single event is accepted and published', async () => {
    const reply = await post(login);

    expect(reply.status).toBe(202);
    const body = json<{ accepted: number; ids: string[] }>(reply);
    expect(body.accepted).toBe(1);
    const [event] = ingested();
    expect(event?.id).toBe(body.ids[0]);
    expect(event?.type).toBe('auth.login');
    expect(event?.correlationId).toBe('app-req-1');
    expect(event?.details.ingest).toMatchObject({
      via: 'http',
      application: 'shop',
      senderIp: '127.0.0.1',
      requestId: reply.headers['x-request-id'],
    });
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('batch is published in order', async () => {
    const batch = [
      login,
      { type: 'auth.mfa', outcome: 'failure', actor: { type: 'user', id: 'ada' } },
      {
        type: 'data.delete',
        outcome: 'success',
        actor: { type: 'user', id: 'ada' },
        target: { resourceType: 'order', resourceId: '17' },
      },
    ];

    const reply = await post({ events: batch });

    expect(reply.status).toBe(202);
    expect(json<{ ids: string[] }>(reply).ids).toHaveLength(3);
    expect(ingested().map((event) => event.type)).toEqual([
      'auth.login',
      'auth.mfa',
      'data.delete',
    ]);
    expect(ingested()[2]?.category).toBe('data_access');
  });

  it('missing token is 401 and nothing is recorded', async () => {
    const reply = await post(login, { token: null });

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="bulwark-audit-ingest"');
    expect(json(reply).code).toBe('BWK_ERR_AUDIT_INGEST_UNAUTHORIZED');
    expect(ingested()).toEqual([]);
    expect(rejections()[0]?.details.reason).toBe('missing_token');
  });

  it('wrong token is 401 and the token is not echoed', async () => {
    const wrong = randomBytes(32).toString('hex');
    const reply = await post(login, { token: wrong });

    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(ingested()).toEqual([]);
    expect(rejections()[0]?.severity).toBe('medium');
    expect(JSON.stringify(events)).not.toContain(wrong);
    expect(reply.text).not.toContain(wrong);
  });

  it('address outside admin.allow is 403', async () => {
    const reply = await post(login, { headers: { 'x-forwarded-for': '198.51.100.9' } });

    expect(reply.status).toBe(403);
    expect(json(reply).code).toBe('BWK_ERR_ADMIN_FORBIDDEN');
    expect(ingested()).toEqual([]);
  });

  it('schema error names the field', async () => {
    const reply = await post({ events: [login, { ...login, outcome: 'maybe' }] });

    expect(reply.status).toBe(400);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    const problem = json<{ code: string; errors: { field: string }[] }>(reply);
    expect(problem.code).toBe('BWK_ERR_AUDIT_EVENT_INVALID');
    expect(problem.errors.map((error) => error.field)).toEqual(['events[1].outcome']);
    expect(ingested()).toEqual([]);
    expect(rejections()[0]?.details.reason).toBe('invalid_event');
  });

  it('line break in a field is rejected', async () => {
    const forged = { ...login, actor: { type: 'user', id: 'ada\n{"outcome":"success"}' } };

    const reply = await post(forged);

    expect(reply.status).toBe(400);
    const problem = json<{ errors: { field: string; message: string }[] }>(reply);
    expect(problem.errors[0]?.field).toBe('actor.id');
    expect(problem.errors[0]?.message).toMatch(/control character, line break/);
    expect(reply.text).not.toContain('"outcome":"success"');
  });

  it('invalid JSON is 400', async () => {
    const reply = await post('{"type":');

    expect(reply.status).toBe(400);
    expect(json<{ errors: { field: string }[] }>(reply).errors[0]?.field).toBe('(body)');
  });

  it('oversized body is 413', async () => {
    const reply = await post({ padding: 'x'.repeat(MAX_INGEST_BODY_BYTES) });

    expect(reply.status).toBe(413);
    expect(json(reply).code).toBe('BWK_ERR_AUDIT_INGEST_TOO_LARGE');
    expect(reply.headers.connection).toBe('close');
  });

  it('other media types are 415', async () => {
    const reply = await post(login, { headers: { 'content-type': 'text/plain' } });

    expect(reply.status).toBe(415);
    expect(json(reply).code).toBe('BWK_ERR_AUDIT_INGEST_MEDIA_TYPE');
  });

  it('GET is 405 with Allow', async () => {
    const reply = await send(gateway.url, PATH, { headers: { authorization: `Bearer ${TOKEN}` } });

    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('POST');
  });

  it('endpoint is off without the token variable', async () => {
    delete process.env[INGEST_TOKEN_ENV];
    const other = await startGateway({
      upstream: upstream.url,
      admin: { allow: ['127.0.0.1/32'] },
    });
    try {
      const reply = await send(other.url, PATH, {
        method: 'POST',
        headers: { 'content-type': JSON_TYPE, authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(login),
      });

      expect(reply.status).toBe(404);
      expect(json(reply).code).toBe('BWK_ERR_AUDIT_INGEST_DISABLED');
    } finally {
      process.env[INGEST_TOKEN_ENV] = TOKEN;
      await other.stop();
    }
  });
});
