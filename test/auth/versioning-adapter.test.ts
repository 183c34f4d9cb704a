import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { startNodeServer, type RunningServer } from '../adapters/contract.js';
import { json, send } from '../helpers/http.js';

const DEPRECATION = '@1780272000';
const SUNSET = 'Sun, 31 Jan 2027 00:00:00 GMT';

describe('versioning in the Express adapter', () => {
  let server: RunningServer;

  beforeAll(async () => {
    const bulwark = bulwarkExpress({
      versioning: {
        default: '2',
        versions: [
          {
            name: '1',
            status: 'deprecated',
            deprecatedAt: '2026-06-01T00:00:00Z',
            sunset: '2027-01-31T00:00:00Z',
            rateLimits: [{ name: 'v1-cap', key: 'header:X-Client', limit: 1, window: '1m' }],
          },
          { name: '2' },
          { name: '0', status: 'retired' },
        ],
      },
      routes: [{ match: 'GET /orders' }],
    });
    const app = express();
    app.use(bulwark);
    app.use((req, res) => {
      const ctx = res.locals.bulwark;
      res.json({ version: ctx?.version?.name, route: ctx?.route?.id, url: req.originalUrl });
    });
    server = await startNodeServer(app, () => bulwark.close());
  });

  afterAll(async () => {
    await server.close();
  });

  it('admitted request has headers and the version', async () => {
    const reply = await send(server.url, '/v1/orders');

    expect(reply.status).toBe(200);
    expect(reply.headers['deprecation']).toBe(DEPRECATION);
    expect(reply.headers['sunset']).toBe(SUNSET);
    expect(json(reply)).toEqual({ version: '1', route: 'GET /orders', url: '/v1/orders' });
  });

  it('rejected request has the headers too', async () => {
    const headers = { 'x-client': 'adapter-a' };
    await send(server.url, '/v1/orders', { headers });
    const limited = await send(server.url, '/v1/orders', { headers });

    expect(limited.status).toBe(429);
    expect(limited.headers['deprecation']).toBe(DEPRECATION);
    expect(limited.headers['sunset']).toBe(SUNSET);
  });

  it('active version has no lifecycle headers', async () => {
    const reply = await send(server.url, '/orders', { headers: { 'api-version': '2' } });

    expect(reply.status).toBe(200);
    expect(reply.headers['deprecation']).toBeUndefined();
    expect(json(reply)).toMatchObject({ version: '2', route: 'GET /orders' });
  });

  it('retired version gets 410', async () => {
    const reply = await send(server.url, '/v0/orders');

    expect(reply.status).toBe(410);
    expect(json(reply)).toMatchObject({ code: 'BWK_ERR_VERSION_RETIRED', successor: '2' });
  });
});
