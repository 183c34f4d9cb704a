import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';

import type { AdapterOptions } from '../../src/adapters/options.js';
import { headerValue, type RequestContext } from '../../src/core/context.js';
import { ConfigError } from '../../src/core/errors.js';
import { CONTINUE, type Guard } from '../../src/core/guard.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';

/**
 * The contract every adapter meets: the same options give the same statuses, headers,
 * bodies and events in Express, Fastify and node:http. Each adapter's test file runs it
 * with a harness that starts a real server of that framework on 127.0.0.1.
 */

/** What the application behind the adapter returns for an admitted request. */
export interface Echo {
  /** The route Bulwark matched, from the context the adapter exposes to the application. */
  route: string | null;
  principal: string | null;
  ip: string | null;
}

export interface RunningServer {
  url: string;
  /** Stops the server and closes the adapter, flushing its events. */
  close(): Promise<void>;
}

export interface AdapterHarness {
  name: string;
  /**
   * Starts a server on 127.0.0.1, port 0, that runs the adapter with `options` and responds
   * to every admitted request with 200 and an `Echo` of the context the adapter exposes.
   */
  start(options: AdapterOptions): Promise<RunningServer>;
  /** Creates the adapter with `options` and closes it again, or rejects when they are invalid. */
  create(options: unknown): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | undefined>;
  text: string;
}

export interface Client {
  send(
    path: string,
    init?: { method?: string; headers?: Record<string, string>; body?: string },
  ): Promise<Reply>;
}

/** Starts a server and returns a client for it. Both are closed after each test. */
export type Launch = (options: AdapterOptions) => Promise<Client>;

/** Sets `ctx.principal` from `X-User`, as an authentication step before rate limiting would. */
export function sessionGuard(mode: 'sync' | 'async'): Guard {
  const assign = (ctx: RequestContext) => {
    const user = headerValue(ctx.headers, 'x-user');
    if (user !== undefined) ctx.principal = { type: 'user', id: user };
    return CONTINUE;
  };
  return {
    name: 'session',
    check: mode === 'sync' ? assign : async (ctx) => assign(ctx),
  };
}

interface Step {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  status: number;
  /**
   * Expected `RateLimit` header without its `t=` reset values, which depend on elapsed time,
   * or null when the response must not carry one.
   */
  rateLimit?: string | null;
}

interface ParityCase {
  name: string;
  options: () => AdapterOptions;
  steps: Step[];
}

/** Request sequences whose statuses and RateLimit headers must match in every adapter. */
export const parityCases: ParityCase[] = [
  {
    name: 'global limit per ip',
    options: () => ({ rateLimits: [{ name: 'per-ip', key: 'ip', limit: 2, window: '1m' }] }),
    steps: [
      { path: '/a', status: 200, rateLimit: '"per-ip";r=1' },
      { path: '/b', status: 200, rateLimit: '"per-ip";r=0' },
      { path: '/a', status: 429 },
    ],
  },
  {
    name: 'route and global limits together',
    options: () => ({
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 5, window: '1m' }],
      routes: [
        {
          match: 'POST /login',
          rateLimits: [{ name: 'login', key: 'ip', limit: 1, window: '15m' }],
        },
      ],
    }),
    steps: [
      { method: 'POST', path: '/login', status: 200, rateLimit: '"per-ip";r=4, "login";r=0' },
      { method: 'POST', path: '/login', status: 429 },
      { path: '/orders', status: 200, rateLimit: '"per-ip";r=3' },
    ],
  },
  {
    name: 'header key counts per tenant',
    options: () => ({
      rateLimits: [{ name: 'tenant', key: 'header:x-tenant', limit: 1, window: '1m' }],
    }),
    steps: [
      { path: '/', headers: { 'x-tenant': 'a' }, status: 200 },
      { path: '/', headers: { 'x-tenant': 'a' }, status: 429 },
      { path: '/', headers: { 'x-tenant': 'b' }, status: 200 },
      { path: '/', status: 200, rateLimit: null },
    ],
  },
  {
    name: 'trusted proxy forwards client ip',
    options: () => ({
      trustProxy: ['127.0.0.1'],
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
    }),
    steps: [
      { path: '/', headers: { 'x-forwarded-for': '203.0.113.1' }, status: 200 },
      { path: '/', headers: { 'x-forwarded-for': '203.0.113.1' }, status: 429 },
      { path: '/', headers: { 'x-forwarded-for': '203.0.113.2' }, status: 200 },
    ],
  },
  {
    name: 'untrusted forwarded header ignored',
    options: () => ({ rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }] }),
    steps: [
      { path: '/', headers: { 'x-forwarded-for': '203.0.113.1' }, status: 200 },
      { path: '/', headers: { 'x-forwarded-for': '203.0.113.2' }, status: 429 },
    ],
  },
  {
    name: 'async guard before limits',
    options: () => ({
      guards: [sessionGuard('async')],
      rateLimits: [{ name: 'per-user', key: 'user', limit: 1, window: '1m' }],
    }),
    steps: [
      { path: '/', headers: { 'x-user': 'alice' }, status: 200 },
      { path: '/', headers: { 'x-user': 'alice' }, status: 429 },
      { path: '/', headers: { 'x-user': 'bob' }, status: 200 },
    ],
  },
];

/** Runs the adapter contract against one adapter. */
export function describeAdapterContract(harness: AdapterHarness): void {
  const launch = useServers(harness);

  describe(`${harness.name} adapter contract`, () => {
    it('admits exactly the limit then rejects', async () => {
      const client = await launch({
        rateLimits: [{ name: 'limited', key: 'ip', limit: 3, window: '1m' }],
      });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await client.send('/items')).status);

      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    });

    it('rejection carries headers and problem', async () => {
      const client = await launch({
        rateLimits: [{ name: 'limited', key: 'ip', limit: 1, window: '1m' }],
      });
      await client.send('/items');
      const reply = await client.send('/items', { headers: { 'x-request-id': 'trace-429' } });
      const body = JSON.parse(reply.text) as Record<string, unknown>;

      expect(reply.status).toBe(429);
      expect(reply.headers['content-type']).toBe('application/problem+json');
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(reply.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(reply.headers['ratelimit']).toMatch(/^"limited";r=0;t=\d+$/);
      expect(reply.headers['ratelimit-policy']).toBe('"limited";q=1;w=60');
      expect(reply.headers['x-ratelimit-remaining']).toBe('0');
      expect(reply.headers['x-request-id']).toBe('trace-429');
      expect(body.status).toBe(429);
      expect(body.code).toBe('BWK_ERR_RATE_LIMITED');
      expect(body.type).toBe('urn:bulwark:problem:rate-limited');
      expect(body.policy).toBe('limited');
      // The client's id is the correlation id, so the body points at the same request.
      expect(body.instance).toBe('urn:bulwark:request:trace-429');
    });

    it('admitted responses carry RateLimit headers', async () => {
      const client = await launch({
        rateLimits: [{ name: 'limited', key: 'ip', limit: 3, window: '1m' }],
      });
      const first = await client.send('/items');
      const second = await client.send('/items');

      expect(first.status).toBe(200);
      expect(first.headers['ratelimit-policy']).toBe('"limited";q=3;w=60');
      expect(first.headers['ratelimit']).toMatch(/^"limited";r=2;t=\d+$/);
      expect(first.headers['x-ratelimit-limit']).toBe('3');
      expect(first.headers['x-ratelimit-remaining']).toBe('2');
      expect(first.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(second.headers['ratelimit']).toMatch(/^"limited";r=1;t=\d+$/);
    });

    it('switched-off headers are absent', async () => {
      const client = await launch({
        rateLimits: [{ name: 'limited', key: 'ip', limit: 3, window: '1m' }],
        rateLimiting: { headers: { draft: true, legacy: false } },
      });
      const reply = await client.send('/items');

      expect(reply.headers['ratelimit']).toMatch(/^"limited";r=2;t=\d+$/);
      expect(reply.headers['x-ratelimit-limit']).toBeUndefined();
    });

    it('route limit applies only to route', async () => {
      const client = await launch({
        routes: [
          {
            match: 'POST /login',
            rateLimits: [{ name: 'login', key: 'ip', limit: 2, window: '15m' }],
          },
        ],
      });
      const logins: number[] = [];
      for (let i = 0; i < 3; i++)
        logins.push((await client.send('/login', { method: 'POST' })).status);
      const orders = await client.send('/orders');
      const loginPage = await client.send('/login');

      expect(logins).toEqual([200, 200, 429]);
      expect(orders.status).toBe(200);
      expect(orders.headers['ratelimit']).toBeUndefined();
      expect(JSON.parse(orders.text)).toMatchObject({ route: null });
      expect(loginPage.status).toBe(200);
    });

    it('matched route visible to application', async () => {
      const client = await launch({
        routes: [{ match: 'GET /orders/:id', rateLimits: [] }],
      });
      const reply = await client.send('/orders/42?expand=items');

      expect(JSON.parse(reply.text)).toMatchObject({ route: 'GET /orders/:id', ip: '127.0.0.1' });
    });

    it('route report-only lets requests through', async () => {
      const events = collectEvents();
      const client = await launch({
        bus: events.bus,
        routes: [
          {
            match: 'GET /reports',
            reportOnly: true,
            rateLimits: [{ name: 'reports', key: 'ip', limit: 1, window: '1m' }],
          },
        ],
      });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await client.send('/reports')).status);

      expect(statuses).toEqual([200, 200, 200]);
      expect(events.list.map((event) => event.outcome)).toEqual(['would_block', 'would_block']);
      expect(events.list[0]?.type).toBe('ratelimit.exceeded');
      expect(events.list[0]?.target.route).toBe('GET /reports');
    });

    it('global report-only lets requests through', async () => {
      const events = collectEvents();
      const client = await launch({
        bus: events.bus,
        rateLimiting: { reportOnly: true },
        rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
      });
      const first = await client.send('/');
      const second = await client.send('/');

      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.headers['ratelimit']).toMatch(/^"per-ip";r=0;t=\d+$/);
      expect(events.list.map((event) => event.outcome)).toEqual(['would_block']);
    });

    it('rejection publishes blocked event', async () => {
      const events = collectEvents();
      const client = await launch({
        bus: events.bus,
        routes: [
          {
            match: 'POST /login',
            rateLimits: [{ name: 'login', key: 'ip', limit: 1, window: '15m' }],
          },
        ],
      });
      await client.send('/login', { method: 'POST' });
      const reply = await client.send('/login', {
        method: 'POST',
        headers: { 'user-agent': 'contract-test' },
      });
      const [event] = events.list;

      expect(reply.status).toBe(429);
      expect(events.list).toHaveLength(1);
      expect(event?.type).toBe('ratelimit.exceeded');
      expect(event?.outcome).toBe('blocked');
      expect(event?.category).toBe('violation');
      expect(event?.actor).toMatchObject({ type: 'anonymous', ip: '127.0.0.1' });
      expect(event?.actor.userAgent).toBe('contract-test');
      expect(event?.target).toMatchObject({ method: 'POST', route: 'POST /login', path: '/login' });
      expect(event?.correlationId).toBe(reply.headers['x-request-id']);
      expect(event?.details).toMatchObject({ policy: 'login', limit: 1 });
    });

    it('onEvent receives events', async () => {
      const received: SecurityEvent[] = [];
      const client = await launch({
        onEvent: (event) => received.push(event),
        rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
      });
      await client.send('/');
      await client.send('/');

      expect(received.map((event) => event.outcome)).toEqual(['blocked']);
    });

    it('eventsFile records JSON lines', async () => {
      const folder = await mkdtemp(join(tmpdir(), 'bulwark-adapter-'));
      try {
        const file = join(folder, 'events.jsonl');
        const server = await harness.start({
          eventsFile: file,
          rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
        });
        const client = clientFor(server.url);
        await client.send('/');
        await client.send('/');
        await client.close();
        await server.close();
        const lines = (await readFile(file, 'utf8')).trim().split('\n');

        expect(lines).toHaveLength(1);
        expect(JSON.parse(lines[0]!)).toMatchObject({
          type: 'ratelimit.exceeded',
          outcome: 'blocked',
        });
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    });

    it('principal from guard keys user limit', async () => {
      const client = await launch({
        guards: [sessionGuard('sync')],
        rateLimits: [{ name: 'per-user', key: 'user', limit: 2, window: '1m' }],
      });
      const alice: number[] = [];
      for (let i = 0; i < 3; i++)
        alice.push((await client.send('/', { headers: { 'x-user': 'alice' } })).status);
      const bob = await client.send('/', { headers: { 'x-user': 'bob' } });
      const anonymous: number[] = [];
      for (let i = 0; i < 3; i++) anonymous.push((await client.send('/')).status);

      expect(alice).toEqual([200, 200, 429]);
      expect(bob.status).toBe(200);
      expect(JSON.parse(bob.text)).toMatchObject({ principal: 'bob' });
      expect(anonymous).toEqual([200, 200, 200]);
    });

    it('failing guard answers 500 problem', async () => {
      const broken: Guard = {
        name: 'broken',
        check: () => {
          throw new Error('session store unreachable');
        },
      };
      const client = await launch({ guards: [broken] });
      const reply = await client.send('/');
      const body = JSON.parse(reply.text) as Record<string, unknown>;

      expect(reply.status).toBe(500);
      expect(reply.headers['content-type']).toBe('application/problem+json');
      expect(body.code).toBe('BWK_ERR_GUARD_FAILED');
      expect(reply.text).not.toContain('session store unreachable');
    });

    it('invalid policy throws ConfigError with path', async () => {
      const error = await harness
        .create({ rateLimits: [{ name: 'login', limit: 5, window: 'soon' }] })
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConfigError);
      const issues = (error as ConfigError).issues;
      expect(issues.map((issue) => issue.path)).toEqual(['rateLimits.0.window']);
      expect(issues[0]?.value).toBe('"soon"');
      expect((error as ConfigError).message).toContain('rateLimits.0.window');
    });

    it('invalid hooks listed with policy', async () => {
      const error = await harness
        .create({ rateLimit: [], store: {}, guards: [{ name: 'x' }] })
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConfigError);
      const issues = (error as ConfigError).issues;
      expect(issues.map((issue) => [issue.path, issue.code])).toEqual([
        ['', 'BWK_ERR_CONFIG_UNKNOWN_KEY'],
        ['store', 'BWK_ERR_CONFIG_TYPE'],
        ['guards.0', 'BWK_ERR_CONFIG_TYPE'],
      ]);
    });

    it('eventsFile with own bus rejected', async () => {
      const error = await harness
        .create({ bus: new EventBus(), eventsFile: join(tmpdir(), 'never-written.jsonl') })
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues[0]).toMatchObject({
        path: 'eventsFile',
        code: 'BWK_ERR_CONFIG_CONFLICT',
      });
    });

    describe('same results as every adapter', () => {
      for (const parity of parityCases) {
        it(parity.name, async () => {
          const client = await launch(parity.options());
          for (const [index, step] of parity.steps.entries()) {
            const reply = await client.send(step.path, {
              method: step.method,
              headers: step.headers,
            });
            const where = `step ${index}: ${step.method ?? 'GET'} ${step.path}`;

            expect(reply.status, where).toBe(step.status);
            if (step.rateLimit !== undefined) {
              const rateLimit = reply.headers['ratelimit']?.replace(/;t=\d+/g, '');
              expect(rateLimit, where).toBe(step.rateLimit ?? undefined);
            }
          }
        });
      }
    });
  });
}

/** Starts servers for a test and stops them, with their clients, after it. */
function useServers(harness: AdapterHarness): Launch {
  const open: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of open.splice(0).reverse()) await close();
  });

  return async (options) => {
    const server = await harness.start(options);
    const client = clientFor(server.url);
    open.push(
      () => server.close(),
      () => client.close(),
    );
    return client;
  };
}

/** Creates an undici client with its own connection pool, so closing it leaves no sockets. */
export function clientFor(url: string): Client & { close(): Promise<void> } {
  const agent = new Agent();
  return {
    async send(path, init = {}) {
      const response = await request(new URL(path, url), {
        method: (init.method ?? 'GET') as 'GET',
        headers: init.headers,
        body: init.body,
        dispatcher: agent,
      });
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(response.headers))
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
      return { status: response.statusCode, headers, text: await response.body.text() };
    },
    close: () => agent.close(),
  };
}

function collectEvents(): { bus: EventBus; list: SecurityEvent[] } {
  const bus = new EventBus();
  const list: SecurityEvent[] = [];
  bus.subscribe((event) => list.push(event));
  return { bus, list };
}

/** Builds the echo of an admitted request from the context the adapter exposes. */
export function echoOf(ctx: RequestContext | null | undefined): Echo {
  return {
    route: ctx?.route?.id ?? null,
    principal: ctx?.principal?.id ?? null,
    ip: ctx?.ip ?? null,
  };
}

/** Serves `listener` with node:http on 127.0.0.1, port 0. `release` closes the adapter. */
export async function startNodeServer(
  listener: RequestListener,
  release: () => Promise<void>,
): Promise<RunningServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await release();
    },
  };
}
