import type { IncomingMessage } from 'node:http';

import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { bulwarkFastify } from '../../src/adapters/fastify.js';
import { withBulwark } from '../../src/adapters/node-http.js';
import type { AdapterOptions } from '../../src/adapters/options.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { clientFor, startNodeServer, type RunningServer } from '../adapters/contract.js';
import { sendSlowly, sendUntilCut } from './raw-client.js';

/** Starts an application behind one adapter that responds `{ text }` with the body it read. */
interface BodyHarness {
  name: string;
  start(options: AdapterOptions): Promise<RunningServer>;
}

const APP_BODY_LIMIT = 16 * 1024 * 1024;

function readText(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

const harnesses: BodyHarness[] = [
  {
    name: 'Express',
    async start(options) {
      const bulwark = bulwarkExpress(options);
      const app = express();
      app.use(bulwark);
      app.use(express.text({ type: '*/*', limit: APP_BODY_LIMIT }));
      app.use((req, res) => {
        res.json({ text: typeof req.body === 'string' ? req.body : '' });
      });
      return startNodeServer(app, () => bulwark.close());
    },
  },
  {
    name: 'Fastify',
    async start(options) {
      const app = Fastify({ bodyLimit: APP_BODY_LIMIT });
      await app.register(bulwarkFastify, options);
      app.removeAllContentTypeParsers();
      app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) =>
        done(null, body),
      );
      app.all('/*', async (request) => ({ text: request.body ?? '' }));
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
    },
  },
  {
    name: 'node:http',
    async start(options) {
      const listener = withBulwark((req, res) => {
        readText(req).then(
          (text) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ text }));
          },
          () => res.destroy(),
        );
      }, options);
      return startNodeServer(listener, () => listener.close());
    },
  },
];

for (const harness of harnesses) {
  describe(`${harness.name} body checks`, () => {
    const servers: RunningServer[] = [];
    const clients: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      for (const client of clients.splice(0)) await client.close();
      for (const server of servers.splice(0)) await server.close();
    });

    async function launch(options: AdapterOptions) {
      const server = await harness.start(options);
      servers.push(server);
      const client = clientFor(server.url);
      clients.push(client);
      return { url: server.url, client };
    }

    it('application reads checked JSON', async () => {
      const { client } = await launch({});
      const reply = await client.send('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"item":"tea","count":2}',
      });

      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({ text: '{"item":"tea","count":2}' });
    });

    it('invalid JSON never reaches application', async () => {
      const events: SecurityEvent[] = [];
      const { client } = await launch({ onEvent: (event) => events.push(event) });
      const reply = await client.send('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"item":}',
      });

      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.text)).toMatchObject({
        code: 'BWK_ERR_BODY_INVALID',
        error: 'expected a value',
        position: 8,
      });
      expect(events.map((event) => event.type)).toEqual(['http.body_invalid']);
    });

    it('disallowed media type gets 415', async () => {
      const { client } = await launch({
        routes: [{ match: 'POST /orders', body: { contentTypes: ['application/json'] } }],
      });
      const reply = await client.send('/orders', {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'a,b',
      });

      expect(reply.status).toBe(415);
      expect(JSON.parse(reply.text)).toMatchObject({ allowed: ['application/json'] });
    });

    it('other bodies stream to application', async () => {
      const { client } = await launch({});
      const reply = await client.send('/upload', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: 'x'.repeat(100_000),
      });

      expect(reply.status).toBe(200);
      expect((JSON.parse(reply.text) as { text: string }).text).toHaveLength(100_000);
    });

    it('content-length over limit gets 413', async () => {
      const { url } = await launch({ limits: { maxBodySize: '64kb' } });
      const result = await sendUntilCut(url, {
        path: '/upload',
        headers: { 'content-type': 'application/octet-stream', 'content-length': 32 * 1024 * 1024 },
        total: 32 * 1024 * 1024,
        chunked: false,
      });

      expect(result.completed).toBe(false);
      expect(result.status).toBe(413);
    });

    it('chunked body cut at limit', async () => {
      const { url } = await launch({ limits: { maxBodySize: '64kb' } });
      const result = await sendUntilCut(url, {
        path: '/upload',
        headers: { 'content-type': 'application/octet-stream' },
        total: 32 * 1024 * 1024,
        chunked: true,
      });

      expect(result.completed).toBe(false);
      expect(result.bodyBytesWritten).toBeLessThan(16 * 1024 * 1024);
      expect(result.status).toBe(413);
      expect(result.response).toContain('BWK_ERR_BODY_TOO_LARGE');
    });

    it('slow bodies cut off', async () => {
      const events: SecurityEvent[] = [];
      const { url, client } = await launch({
        onEvent: (event) => events.push(event),
        limits: { minBodyRate: { bytesPerSecond: '1kb', window: '1s', grace: '0s' } },
      });
      const trickle = { piece: 'aaaaaaaa', everyMs: 200, boundMs: 10_000 };
      // A JSON body is read by Bulwark, an octet stream by the application.
      const slowJson = sendSlowly(url, {
        path: '/orders',
        headers: { 'content-type': 'application/json', 'content-length': 100_000 },
        ...trickle,
      });
      const slowStream = sendSlowly(url, {
        path: '/upload',
        headers: { 'content-type': 'application/octet-stream', 'content-length': 100_000 },
        ...trickle,
      });
      const normal = await client.send('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const [json, stream] = await Promise.all([slowJson, slowStream]);

      expect(normal.status).toBe(200);
      expect(json.status).toBe(408);
      expect(json.response).toContain('BWK_ERR_BODY_TIMEOUT');
      // The application owns the streamed response, so its connection closes without one.
      expect(stream.status).toBeUndefined();
      expect(stream.closed).toBe(true);
      const slow = events.filter((event) => event.type === 'http.body_too_slow');
      expect(slow).toHaveLength(2);
      expect(slow.filter((event) => event.details.streamed === true)).toHaveLength(1);
    });
  });
}

describe('Express body parsers after Bulwark', () => {
  it('express.json parses replayed body', async () => {
    const bulwark = bulwarkExpress({});
    const app = express();
    app.use(bulwark);
    app.use(express.json());
    app.use((req, res) => {
      res.json({ parsed: req.body as unknown });
    });
    const server = await startNodeServer(app, () => bulwark.close());
    const client = clientFor(server.url);
    try {
      const reply = await client.send('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"item":"tea"}',
      });

      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({ parsed: { item: 'tea' } });
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('Fastify parsers after Bulwark', () => {
  it('default JSON parser reads replayed body', async () => {
    const app = Fastify();
    await app.register(bulwarkFastify, {});
    app.post('/orders', async (request) => ({ parsed: request.body }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    const client = clientFor(`http://127.0.0.1:${address.port}`);
    try {
      const reply = await client.send('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"item":"tea"}',
      });

      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({ parsed: { item: 'tea' } });
    } finally {
      await client.close();
      await app.close();
    }
  });
});
