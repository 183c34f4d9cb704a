import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { bulwarkFastify } from '../../src/adapters/fastify.js';
import { withBulwark } from '../../src/adapters/node-http.js';
import type { AdapterOptions } from '../../src/adapters/options.js';
import type { Protection } from '../../src/runtime/protection.js';
import { sessionGuard } from '../adapters/contract.js';
import { json, send, type Reply } from '../helpers/http.js';
import { waitFor } from './wait.js';

/** An application whose handler holds requests to `/held` until the test releases them. */
interface App {
  url: string;
  arrivals: string[];
  held: ServerResponse[];
  /** The adapter's protection; undefined where the adapter does not expose it (Fastify). */
  protection: Protection | undefined;
  close(): Promise<void>;
}

interface Handled {
  arrivals: string[];
  held: ServerResponse[];
}

// A fixed limit of 1, so the test decides when the application is full.
function options(queueSize: number): AdapterOptions {
  return {
    guards: [sessionGuard('sync')],
    loadShedding: {
      initialLimit: 1,
      minLimit: 1,
      maxLimit: 1,
      queue: { size: queueSize, timeout: '5s' },
    },
  };
}

function handle(state: Handled, req: IncomingMessage, res: ServerResponse): void {
  state.arrivals.push(String(req.headers['x-who']));
  if (req.url?.startsWith('/held')) state.held.push(res);
  else res.end('ok');
}

async function listening(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const starters: Record<string, (queueSize: number) => Promise<App>> = {
  'node:http': async (queueSize) => {
    const state: Handled = { arrivals: [], held: [] };
    const listener = withBulwark((req, res) => handle(state, req, res), options(queueSize));
    const server = createServer(listener);
    return {
      ...state,
      url: await listening(server),
      protection: listener.protection,
      close: async () => {
        await closeServer(server);
        await listener.close();
      },
    };
  },
  Express: async (queueSize) => {
    const state: Handled = { arrivals: [], held: [] };
    const middleware = bulwarkExpress(options(queueSize));
    const app = express();
    app.use(middleware);
    app.use((req, res) => handle(state, req, res));
    const server = createServer(app);
    return {
      ...state,
      url: await listening(server),
      protection: middleware.protection,
      close: async () => {
        await closeServer(server);
        await middleware.close();
      },
    };
  },
  Fastify: async (queueSize) => {
    const state: Handled = { arrivals: [], held: [] };
    const app = Fastify();
    await app.register(bulwarkFastify, options(queueSize));
    app.all('/*', (request, reply) => {
      reply.hijack();
      handle(state, request.raw, reply.raw);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    return { ...state, url, protection: undefined, close: () => app.close() };
  },
};

const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) {
    for (const res of app.held.splice(0)) res.end();
    await app.close();
  }
});

async function start(adapter: string, queueSize: number): Promise<App> {
  const app = await starters[adapter]!(queueSize);
  apps.push(app);
  return app;
}

function request(app: App, path: string, who: string, user?: string): Promise<Reply> {
  const headers: Record<string, string> = { 'x-who': who };
  if (user !== undefined) headers['x-user'] = user;
  return send(app.url, path, { headers });
}

function releaseOne(app: App): void {
  app.held.shift()?.end('released');
}

describe.each(Object.keys(starters))('load shedding in %s', (adapter) => {
  it('sheds with 503 and Retry-After when full', async () => {
    const app = await start(adapter, 0);
    const running = request(app, '/held/1', 'first');
    await waitFor(() => app.held.length === 1);

    const shed = await request(app, '/held/2', 'second');

    expect(shed.status).toBe(503);
    expect(shed.headers['retry-after']).toBe('1');
    expect(json(shed).code).toBe('BWK_ERR_OVERLOADED');
    expect(app.arrivals).toEqual(['first']);
    releaseOne(app);
    expect((await running).status).toBe(200);
  });

  it('admits again once a slot is free', async () => {
    const app = await start(adapter, 0);
    const running = request(app, '/held/1', 'first');
    await waitFor(() => app.held.length === 1);
    releaseOne(app);
    await running;

    const next = await request(app, '/open', 'next');

    expect(next.status).toBe(200);
  });
});

describe.each(['node:http', 'Express'])('load-shedding priorities in %s', (adapter) => {
  it('admits a signed-in user before an anonymous request', async () => {
    const app = await start(adapter, 2);
    const shedder = app.protection!.loadShedder!;
    const running = request(app, '/held/1', 'first');
    await waitFor(() => app.held.length === 1);
    const anonymous = request(app, '/held/a', 'anonymous');
    await waitFor(() => shedder.stats().queued === 1);
    const user = request(app, '/held/u', 'user', 'alice');
    await waitFor(() => shedder.stats().queued === 2);

    releaseOne(app);
    await waitFor(() => app.arrivals.length === 2);

    expect(app.arrivals[1]).toBe('user');
    releaseOne(app);
    await waitFor(() => app.arrivals.length === 3);
    expect(app.arrivals[2]).toBe('anonymous');
    releaseOne(app);
    await Promise.all([running, anonymous, user]);
  });
});
