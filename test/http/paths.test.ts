import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createContext } from '../../src/core/context.js';
import type { Reject } from '../../src/core/guard.js';
import { CONTINUE, type Guard } from '../../src/core/guard.js';
import { problem } from '../../src/core/problem.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { findPathViolation, type PathViolation } from '../../src/http/paths.js';
import { RequestTargetGuard } from '../../src/http/request-target.js';
import { startGateway } from '../helpers/gateway.js';
import {
  ADAPTERS,
  sendRaw,
  startAdapterApp,
  startRecordingUpstream,
  type AdapterApp,
  type RecordingUpstream,
} from './hardening-harness.js';

/** Titled spellings and the rule each breaks; undefined for a path that passes. */
const PATH_CASES: ReadonlyArray<
  [title: string, path: string, expected: PathViolation | undefined]
> = [
  ['plain path', '/orders/7', undefined],
  ['root', '/', undefined],
  ['trailing slash', '/orders/', undefined],
  ['encoded letters', '/%61dmin', undefined],
  ['encoded space', '/files/a%20b', undefined],
  ['encoded UTF-8', '/caf%C3%A9', undefined],
  ['path parameter', '/admin;jsessionid=1', undefined],
  ['dots inside a name', '/files/a..b/.hidden', undefined],
  ['absolute form', 'http://example.com/admin', 'not_origin_form'],
  ['asterisk form', '*', 'not_origin_form'],
  ['raw NUL', '/admin\u0000.json', 'invalid_character'],
  ['raw tab', '/ad\tmin', 'invalid_character'],
  ['raw non-ASCII', '/caf\u00e9', 'invalid_character'],
  ['backslash', '/admin\\', 'backslash'],
  ['backslash separator', '/x\\..\\admin', 'backslash'],
  ['lone percent', '/admin%', 'invalid_percent_encoding'],
  ['percent without hex', '/adm%zzin', 'invalid_percent_encoding'],
  ['encoded NUL', '/admin%00', 'encoded_control'],
  ['encoded line feed', '/admin%0a', 'encoded_control'],
  ['encoded slash', '/admin%2fusers', 'encoded_separator'],
  ['encoded slash upper', '/admin%2F', 'encoded_separator'],
  ['encoded backslash', '/admin%5c', 'encoded_separator'],
  ['encoded semicolon', '/admin%3bx', 'encoded_separator'],
  ['encoded dot segment', '/x/%2e%2e/admin', 'encoded_dot'],
  ['half-encoded dot segment', '/x/.%2e/admin', 'encoded_dot'],
  ['double encoding', '/%2561dmin', 'double_encoding'],
  ['overlong slash', '/x%c0%afadmin', 'invalid_utf8'],
  ['overlong dot', '/%c0%ae%c0%ae/admin', 'invalid_utf8'],
  ['truncated UTF-8', '/caf%C3', 'invalid_utf8'],
  ['encoded surrogate', '/%ED%A0%80', 'invalid_utf8'],
  ['dot segment', '/./admin', 'dot_segment'],
  ['dot-dot segment', '/x/../admin', 'dot_segment'],
  ['trailing dot-dot', '/admin/..', 'dot_segment'],
  ['dot-dot with parameter', '/x/..;/admin', 'dot_segment'],
  ['leading double slash', '//admin', 'empty_segment'],
  ['inner double slash', '/api//admin', 'empty_segment'],
];

describe('path rules', () => {
  it.each(PATH_CASES)('%s', (_title, path, expected) => {
    expect(findPathViolation(path)).toBe(expected);
  });
});

function contextWith(method: string, url: string) {
  return createContext({
    id: 'r1',
    correlationId: 'r1',
    method,
    url,
    headers: {},
    ip: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    receivedAt: 0,
  });
}

describe('request target guard', () => {
  const defaults = {
    enabled: true,
    reportOnly: false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    duplicateSlashes: 'reject' as const,
  };

  it('lower-case method is malformed', () => {
    const verdict = new RequestTargetGuard(defaults).check(contextWith('get', '/')) as Reject;

    expect(verdict.status).toBe(400);
    expect(verdict.problem.code).toBe('BWK_ERR_METHOD_INVALID');
  });

  it('unlisted method gets 405 with Allow', () => {
    const verdict = new RequestTargetGuard(defaults).check(contextWith('TRACE', '/')) as Reject;

    expect(verdict.status).toBe(405);
    expect(verdict.problem.code).toBe('BWK_ERR_METHOD_NOT_ALLOWED');
    expect(verdict.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  });

  it('merge keeps query and rewrites path', () => {
    const guard = new RequestTargetGuard({ ...defaults, duplicateSlashes: 'merge' });
    const ctx = contextWith('GET', '//api///orders?next=//x');

    expect(guard.check(ctx)).toBe(CONTINUE);
    expect(ctx.forwardUrl).toBe('/api/orders?next=//x');
  });

  it('merge still rejects dot segments', () => {
    const guard = new RequestTargetGuard({ ...defaults, duplicateSlashes: 'merge' });
    const verdict = guard.check(contextWith('GET', '//x/../admin')) as Reject;

    expect(verdict.problem.reason).toBe('dot_segment');
  });
});

// A variable of this file's own, so that parallel test files never share a pepper.
const PEPPER_ENV = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;

/**
 * Spellings of the protected `GET /admin`, with the status the gateway must return: 400 where
 * the path is rejected, 401 where it canonicalises to the route, whose API key is missing.
 * None may reach the upstream.
 */
const ADMIN_SPELLINGS: ReadonlyArray<[head: string, status: number, reason?: string]> = [
  ['GET /admin HTTP/1.1', 401],
  ['GET /%61dmin HTTP/1.1', 401],
  ['GET /ADMIN HTTP/1.1', 401],
  ['GET /admin/ HTTP/1.1', 401],
  ['GET /admin;x HTTP/1.1', 401],
  ['GET /admin?x=1 HTTP/1.1', 401],
  ['GET /x/../admin HTTP/1.1', 400, 'dot_segment'],
  ['GET /./admin HTTP/1.1', 400, 'dot_segment'],
  ['GET /x/..;/admin HTTP/1.1', 400, 'dot_segment'],
  ['GET //admin HTTP/1.1', 400, 'empty_segment'],
  ['GET /admin%2f HTTP/1.1', 400, 'encoded_separator'],
  ['GET /admin%2Fusers HTTP/1.1', 400, 'encoded_separator'],
  ['GET /x/%2e%2e/admin HTTP/1.1', 400, 'encoded_dot'],
  ['GET /%2561dmin HTTP/1.1', 400, 'double_encoding'],
  ['GET /admin%00.json HTTP/1.1', 400, 'encoded_control'],
  ['GET /x%c0%af..%c0%afadmin HTTP/1.1', 400, 'invalid_utf8'],
  ['GET /admin\\ HTTP/1.1', 400, 'backslash'],
  ['GET /ad%zzmin HTTP/1.1', 400, 'invalid_percent_encoding'],
  ['GET http://127.0.0.1/admin HTTP/1.1', 400, 'not_origin_form'],
];

describe('gateway path checks', () => {
  let upstream: RecordingUpstream;
  let gateway: Gateway;
  let dataDir: string;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    process.env[PEPPER_ENV] = randomBytes(32).toString('base64');
    dataDir = mkdtempSync(join(tmpdir(), 'bwk-paths-'));
    upstream = await startRecordingUpstream();
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        dataDir,
        auth: { apiKeys: { pepperEnv: PEPPER_ENV } },
        routes: [{ match: 'GET /admin', auth: { methods: ['apiKey'] } }],
      },
      { bus },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
    delete process.env[PEPPER_ENV];
  });

  it.each(ADMIN_SPELLINGS)('%s never reaches upstream', async (head, status, reason) => {
    const before = upstream.received.length;
    const reply = await sendRaw(gateway.url, head);

    expect(reply.status).toBe(status);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    if (reason !== undefined) {
      expect(JSON.parse(reply.body)).toMatchObject({ code: 'BWK_ERR_PATH_INVALID', reason });
    }
    expect(upstream.received.length).toBe(before);
  });

  it('clean path is forwarded unchanged', async () => {
    const reply = await sendRaw(gateway.url, 'GET /public/%61b?x=1 HTTP/1.1');

    expect(reply.status).toBe(200);
    expect(upstream.received.at(-1)?.url).toBe('/public/%61b?x=1');
  });

  it('unlisted method rejected before routing', async () => {
    const before = upstream.received.length;
    const reply = await sendRaw(gateway.url, 'PROPFIND /admin HTTP/1.1');

    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'BWK_ERR_METHOD_NOT_ALLOWED' });
    expect(upstream.received.length).toBe(before);
  });

  it('rejection publishes path event', async () => {
    events.length = 0;
    await sendRaw(gateway.url, 'GET /x/%2e%2e/admin HTTP/1.1');

    const event = events.find((each) => each.type === 'http.path_rejected');
    expect(event).toMatchObject({
      category: 'violation',
      outcome: 'blocked',
      details: { reason: 'encoded_dot' },
    });
  });
});

describe('gateway with merged slashes', () => {
  let upstream: RecordingUpstream;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startGateway({
      upstream: upstream.url,
      requestTarget: { duplicateSlashes: 'merge' },
      routes: [
        {
          match: 'GET /admin/*',
          rateLimits: [{ name: 'admin', key: 'ip', limit: 1, window: '1m' }],
        },
      ],
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  it('upstream receives the routed path', async () => {
    const first = await sendRaw(gateway.url, 'GET //admin//users?next=//x HTTP/1.1');
    const second = await sendRaw(gateway.url, 'GET /admin/users HTTP/1.1');

    expect(first.status).toBe(200);
    expect(upstream.received.at(-1)?.url).toBe('/admin/users?next=//x');
    // Both spellings count against the route's limit, so the merged one was routed as /admin/*.
    expect(second.status).toBe(429);
  });
});

/** Rejects the matched route `GET /admin`, standing in for an authentication guard. */
const adminOnly: Guard = {
  name: 'admin-only',
  check: (ctx) =>
    ctx.route?.id === 'GET /admin'
      ? {
          action: 'reject',
          status: 401,
          headers: {},
          problem: problem('admin', 401, 'Unauthorized', 'BWK_ERR_AUTH_REQUIRED'),
          event: { type: 'auth.failure', category: 'authentication', severity: 'low' },
        }
      : CONTINUE,
};

describe.each(ADAPTERS)('%s adapter path checks', (kind) => {
  let app: AdapterApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('ambiguous spellings rejected, canonical ones routed', async () => {
    app = await startAdapterApp(kind, {
      guards: [adminOnly],
      routes: [{ match: 'GET /admin' }],
    });
    const statuses: Record<string, number> = {};
    for (const path of ['/admin', '/%61dmin', '/x/../admin', '/admin%2f', '//admin', '/admin\\']) {
      statuses[path] = (await sendRaw(app.url, `GET ${path} HTTP/1.1`)).status;
    }

    expect(statuses).toEqual({
      '/admin': 401,
      '/%61dmin': 401,
      '/x/../admin': 400,
      '/admin%2f': 400,
      '//admin': 400,
      '/admin\\': 400,
    });
    expect(app.received).toEqual([]);
  });
});
