import express, { type NextFunction, type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';

import { bulwarkExpress, type BulwarkExpressOptions } from '../../src/adapters/express.js';
import type { Guard } from '../../src/core/guard.js';
import {
  clientFor,
  describeAdapterContract,
  echoOf,
  startNodeServer,
  type RunningServer,
} from './contract.js';

describeAdapterContract({
  name: 'Express',
  async start(options) {
    const bulwark = bulwarkExpress(options);
    const app = express();
    app.use(bulwark);
    app.use((_req, res) => {
      res.json(echoOf(res.locals.bulwark));
    });
    return startNodeServer(app, () => bulwark.close());
  },
  async create(options) {
    const bulwark = bulwarkExpress(options as BulwarkExpressOptions);
    await bulwark.close();
  },
});

describe('Express adapter', () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  async function serve(app: express.Express, release: () => Promise<void>) {
    const server = await startNodeServer(app, release);
    servers.push(server);
    return clientFor(server.url);
  }

  it('mount path keeps full route', async () => {
    const bulwark = bulwarkExpress({
      routes: [
        {
          match: 'GET /api/orders',
          rateLimits: [{ name: 'orders', key: 'ip', limit: 1, window: '1m' }],
        },
      ],
    });
    const app = express();
    app.use('/api', bulwark);
    app.use('/api', (_req, res) => {
      res.json(echoOf(res.locals.bulwark));
    });
    const client = await serve(app, () => bulwark.close());

    const first = await client.send('/api/orders');
    const second = await client.send('/api/orders');
    await client.close();

    expect(JSON.parse(first.text)).toMatchObject({ route: 'GET /api/orders' });
    expect(second.status).toBe(429);
  });

  it('pipeline error reaches error handler', async () => {
    for (const mode of ['sync', 'async'] as const) {
      // A JavaScript guard that returns no verdict makes the pipeline itself throw.
      const malformed = {
        name: 'malformed',
        check: mode === 'sync' ? () => undefined : async () => undefined,
      } as unknown as Guard;
      const bulwark = bulwarkExpress({ guards: [malformed] });
      const errors: unknown[] = [];
      const app = express();
      app.use(bulwark);
      app.use((_req, res) => {
        res.json({ reached: true });
      });
      app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
        errors.push(error);
        res.status(503).json({ handled: true });
      });
      const client = await serve(app, () => bulwark.close());

      const reply = await client.send('/');
      await client.close();

      expect(reply.status, mode).toBe(503);
      expect(errors, mode).toHaveLength(1);
      expect(errors[0], mode).toBeInstanceOf(TypeError);
    }
  });

  it('close is idempotent', async () => {
    const bulwark = bulwarkExpress({});

    await bulwark.close();
    await expect(bulwark.close()).resolves.toBeUndefined();
  });
});
