import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { validateConfig } from '../../src/core/config.js';
import { createContext } from '../../src/core/context.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { compileExpressionRules } from '../../src/expression/config-schema.js';
import { ExpressionGuard } from '../../src/expression/guard.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Creates a logger that keeps its JSON lines for assertions. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'warn' }, stream), lines };
}

const routes = [
  {
    match: 'POST /orders',
    expressions: {
      deny: [
        {
          when: "$json.total > 1000 && $request.headers['x-tier'] !== 'gold'",
          reason: 'Orders over 1000 need the gold tier.',
        },
      ],
    },
  },
  {
    match: 'GET /items',
    expressions: {
      deny: [
        { when: 'Number($request.query.limit) > 100', status: 400, reason: 'limit is at most 100' },
        {
          when: "$request.path.endsWith('/items') && $request.query.debug === '1'",
          reason: 'no debug',
        },
      ],
    },
  },
  { match: 'GET /closed', expressions: { deny: [{ when: '$json.missing.deep' }] } },
  {
    match: 'GET /open',
    expressions: { onError: 'allow', deny: [{ when: '$json.missing.deep' }] },
  },
  {
    match: 'DELETE /admin/:id',
    expressions: {
      deny: [
        {
          when: "$request.params.id === 'root' || $principal === null",
          reason: 'anonymous delete',
        },
      ],
    },
  },
] as const;

describe('expression guard through the gateway', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const received: string[] = [];
  const events: SecurityEvent[] = [];
  const bus = new EventBus();
  bus.subscribe((event) => {
    if (event.type === 'expression.denied') events.push(event);
  });
  const { logger, lines } = capturingLogger();

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString('utf8')}`);
        res.end('ok');
      });
    });
    gateway = await startGateway(
      { upstream: upstream.url, routes: routes as never },
      { bus, logger },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
    await bus.close();
  });

  function order(total: number, headers: Record<string, string> = {}) {
    return send(gateway.url, '/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ total }),
    });
  }

  it('false rule lets the request through', async () => {
    const reply = await order(50);
    expect(reply.status).toBe(200);
    expect(received).toContain('POST /orders {"total":50}');
  });

  it('true rule on the JSON body rejects', async () => {
    const reply = await order(5000);
    expect(reply.status).toBe(403);
    expect(reply.headers['content-type']).toContain('application/problem+json');
    const body = json(reply);
    expect(body.code).toBe('BWK_ERR_EXPRESSION_DENIED');
    expect(body.detail).toBe('Orders over 1000 need the gold tier.');
    expect(received).not.toContain('POST /orders {"total":5000}');
  });

  it('rule reads request headers', async () => {
    expect((await order(5000, { 'x-tier': 'gold' })).status).toBe(200);
  });

  it('rule status and query values', async () => {
    expect((await send(gateway.url, '/items?limit=500')).status).toBe(400);
    expect((await send(gateway.url, '/items?limit=50')).status).toBe(200);
    expect((await send(gateway.url, '/items?debug=1')).status).toBe(403);
  });

  it('rejection publishes expression.denied', async () => {
    events.length = 0;
    await send(gateway.url, '/items?limit=101');
    await bus.flush();
    expect(events).toHaveLength(1);
    expect(events[0]!.category).toBe('authorization');
    expect(events[0]!.outcome).toBe('blocked');
    expect(events[0]!.details).toEqual({ rule: 0, reason: 'limit is at most 100' });
    expect(events[0]!.target.route).toBe('GET /items');
  });

  it('evaluation error fails closed by default', async () => {
    events.length = 0;
    const reply = await send(gateway.url, '/closed');
    expect(reply.status).toBe(403);
    expect(json(reply).detail).toBe(
      'A route rule could not be evaluated, so the request was rejected.',
    );
    await bus.flush();
    expect(events[0]!.details).toMatchObject({ rule: 0, error: 'BWK_ERR_EXPRESSION_RUNTIME' });
    const logged = lines.find((line) => line.msg === 'expression rule failed to evaluate');
    expect(logged).toMatchObject({
      route: 'GET /closed',
      rule: 0,
      code: 'BWK_ERR_EXPRESSION_RUNTIME',
    });
  });

  it('evaluation error fails open when configured', async () => {
    expect((await send(gateway.url, '/open')).status).toBe(200);
  });

  it('route parameters and anonymous principal', async () => {
    expect((await send(gateway.url, '/admin/root', { method: 'DELETE' })).status).toBe(403);
    expect((await send(gateway.url, '/admin/7', { method: 'DELETE' })).status).toBe(403);
  });

  it('routes without rules are untouched', async () => {
    expect((await send(gateway.url, '/elsewhere?debug=1')).status).toBe(200);
  });
});

describe('expression guard configuration', () => {
  it('invalid rule stops the start with its position', () => {
    let caught: unknown;
    try {
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [
          { match: 'GET /ok', expressions: { deny: [{ when: '$json.a > 1' }] } },
          { match: 'POST /orders', expressions: { deny: [{ when: '$json.a = 1' }] } },
        ],
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('BWK_ERR_CONFIG_EXPRESSION at routes.1.expressions.deny.0.when');
    expect(message).toContain(
      'route "POST /orders": assignment is not allowed in an expression (line 1, column 1)',
    );
  });

  it('syntax error names line and column', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [{ match: 'GET /x', expressions: { deny: [{ when: '$json.a >' }] } }],
      }),
    ).toThrow('invalid expression syntax at line 1, column 10');
  });

  it('status outside 4xx is rejected', () => {
    expect(() =>
      validateConfig({
        upstream: 'http://127.0.0.1:9',
        routes: [{ match: 'GET /x', expressions: { deny: [{ when: 'true', status: 500 }] } }],
      }),
    ).toThrow(/routes\.0\.expressions\.deny\.0\.status/);
  });
});

describe('expression guard principal', () => {
  it('rule reads the principal', () => {
    const rules = compileExpressionRules(
      {
        onError: 'deny',
        deny: [
          { when: "!$principal.scopes.includes('orders:write')", status: 403, reason: 'no scope' },
        ],
      },
      'POST /orders',
    );
    const guard = new ExpressionGuard(createLogger({ level: 'silent' }));
    const ctx = createContext({
      id: 'r1',
      correlationId: 'r1',
      method: 'POST',
      url: '/orders',
      headers: {},
      ip: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      receivedAt: 0,
      route: { id: 'POST /orders', params: {}, policy: { expressions: rules } },
      principal: { type: 'api_key', id: 'k1', scopes: ['orders:read'] },
    });
    expect(guard.check(ctx)).toMatchObject({ action: 'reject', status: 403 });
    ctx.principal = { type: 'api_key', id: 'k2', scopes: ['orders:write'] };
    expect(guard.check(ctx)).toEqual({ action: 'continue' });
  });
});
