import { afterEach, describe, expect, it } from 'vitest';

import { withBulwark, type WithBulwarkOptions } from '../../src/adapters/node-http.js';
import type { Guard } from '../../src/core/guard.js';
import {
  clientFor,
  describeAdapterContract,
  echoOf,
  startNodeServer,
  type RunningServer,
} from './contract.js';

describeAdapterContract({
  name: 'node:http',
  async start(options) {
    const listener = withBulwark((_req, res, ctx) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(echoOf(ctx)));
    }, options);
    return startNodeServer(listener, () => listener.close());
  },
  async create(options) {
    const listener = withBulwark(() => {}, options as WithBulwarkOptions);
    await listener.close();
  },
});

describe('node:http adapter', () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  it('rejected request skips handler', async () => {
    let calls = 0;
    const listener = withBulwark(
      (_req, res) => {
        calls += 1;
        res.end('ok');
      },
      { rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }] },
    );
    const server = await startNodeServer(listener, () => listener.close());
    servers.push(server);
    const client = clientFor(server.url);

    const first = await client.send('/');
    const second = await client.send('/');
    await client.close();

    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
    expect(calls).toBe(1);
  });

  it('pipeline error answers 500 problem', async () => {
    for (const mode of ['sync', 'async'] as const) {
      // A JavaScript guard that returns no verdict makes the pipeline itself throw.
      const malformed = {
        name: 'malformed',
        check: mode === 'sync' ? () => undefined : async () => undefined,
      } as unknown as Guard;
      const listener = withBulwark((_req, res) => res.end('reached'), { guards: [malformed] });
      const server = await startNodeServer(listener, () => listener.close());
      servers.push(server);
      const client = clientFor(server.url);

      const reply = await client.send('/');
      await client.close();

      expect(reply.status, mode).toBe(500);
      expect(reply.headers['content-type'], mode).toBe('application/problem+json');
      expect(JSON.parse(reply.text), mode).toMatchObject({ code: 'BWK_ERR_INTERNAL' });
    }
  });

  it('non-function handler throws TypeError', () => {
    expect(() => withBulwark('handler' as never)).toThrow(TypeError);
  });
});
