import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

import {
  bulwarkExpress,
  bulwarkFastify,
  withBulwark,
  type AdapterOptions,
} from '../../src/index.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { clientFor, startNodeServer, type RunningServer } from '../adapters/contract.js';

const wafOptions = (events: SecurityEvent[]): AdapterOptions => ({
  waf: { enabled: true, exclusions: [{ field: 'body.bio', rules: ['traversal'] }] },
  onEvent: (event) => events.push(event),
});

const attack = JSON.stringify({ name: 'ann', path: '../../../etc/passwd' });
const benign = JSON.stringify({ name: "Siobhan O'Brien", bio: 'Moved ../../../etc/passwd' });
const jsonHeaders = { 'content-type': 'application/json' };

describe('waf in adapters', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function checkAdapter(url: string, events: SecurityEvent[]): Promise<void> {
    const client = clientFor(url);
    closers.push(() => client.close());

    const blocked = await client.send('/profile', {
      method: 'POST',
      headers: jsonHeaders,
      body: attack,
    });
    expect(blocked.status).toBe(403);
    expect(blocked.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(blocked.text).code).toBe('BWK_ERR_INJECTION_DETECTED');
    expect(events.map((event) => [event.type, event.outcome])).toEqual([
      ['injection.detected', 'blocked'],
    ]);
    expect(events[0]!.details).toMatchObject({ family: 'traversal', field: 'body.path' });

    // The adapter replays the body the guard read, so the framework's parser still gets it.
    const passed = await client.send('/profile', {
      method: 'POST',
      headers: jsonHeaders,
      body: benign,
    });
    expect(passed.status).toBe(200);
    expect(JSON.parse(passed.text)).toEqual(JSON.parse(benign));
  }

  it('express blocks and replays bodies', async () => {
    const events: SecurityEvent[] = [];
    const bulwark = bulwarkExpress(wafOptions(events));
    const app = express();
    app.use(bulwark);
    app.use(express.json());
    app.post('/profile', (req, res) => res.json(req.body));
    const server: RunningServer = await startNodeServer(app, () => bulwark.close());
    closers.push(() => server.close());
    await checkAdapter(server.url, events);
  });

  it('fastify blocks and replays bodies', async () => {
    const events: SecurityEvent[] = [];
    const app: FastifyInstance = Fastify();
    await app.register(bulwarkFastify, wafOptions(events));
    app.post('/profile', async (request) => request.body);
    await app.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => app.close());
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    await checkAdapter(`http://127.0.0.1:${address.port}`, events);
  });

  it('node:http blocks and replays bodies', async () => {
    const events: SecurityEvent[] = [];
    const listener = withBulwark((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.writeHead(200, jsonHeaders);
        res.end(Buffer.concat(chunks));
      });
    }, wafOptions(events));
    const server = await startNodeServer(listener, () => listener.close());
    closers.push(() => server.close());
    await checkAdapter(server.url, events);
  });
});
