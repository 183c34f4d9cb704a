import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

import { bulwarkFastify, type BulwarkFastifyOptions } from '../../src/adapters/fastify.js';
import type { Guard } from '../../src/core/guard.js';
import { clientFor, describeAdapterContract, echoOf } from './contract.js';

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

describeAdapterContract({
  name: 'Fastify',
  async start(options) {
    const app = Fastify();
    await app.register(bulwarkFastify, options);
    app.all('/*', async (request) => echoOf(request.bulwark));
    const url = await listen(app);
    return { url, close: () => app.close() };
  },
  async create(options) {
    const app = Fastify();
    try {
      await app.register(bulwarkFastify, options as BulwarkFastifyOptions);
      await app.ready();
    } finally {
      await app.close();
    }
  },
});

describe('Fastify adapter', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  it('protects routes outside plugin scope', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(bulwarkFastify, {
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
    });
    await app.register(async (child) => {
      child.get('/child', async () => ({ ok: true }));
    });
    const client = clientFor(await listen(app));

    const first = await client.send('/child');
    const second = await client.send('/child');
    await client.close();

    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
  });

  it('unknown route still limited', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(bulwarkFastify, {
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
    });
    const client = clientFor(await listen(app));

    const first = await client.send('/missing');
    const second = await client.send('/missing');
    await client.close();

    expect(first.status).toBe(404);
    expect(second.status).toBe(429);
  });

  it('register prefix option accepted', async () => {
    const app = Fastify();
    apps.push(app);

    await app.register(bulwarkFastify, { prefix: '/v1', rateLimits: [] });

    await expect(app.ready()).resolves.toBe(app);
  });

  it('pipeline error reaches error handler', async () => {
    for (const mode of ['sync', 'async'] as const) {
      // A JavaScript guard that returns no verdict makes the pipeline itself throw.
      const malformed = {
        name: 'malformed',
        check: mode === 'sync' ? () => undefined : async () => undefined,
      } as unknown as Guard;
      const errors: unknown[] = [];
      const app = Fastify();
      apps.push(app);
      await app.register(bulwarkFastify, { guards: [malformed] });
      app.setErrorHandler((error, _request, reply) => {
        errors.push(error);
        void reply.code(503).send({ handled: true });
      });
      app.get('/', async () => ({ reached: true }));
      const client = clientFor(await listen(app));

      const reply = await client.send('/');
      await client.close();

      expect(reply.status, mode).toBe(503);
      expect(errors, mode).toHaveLength(1);
      expect(errors[0], mode).toBeInstanceOf(TypeError);
    }
  });
});
